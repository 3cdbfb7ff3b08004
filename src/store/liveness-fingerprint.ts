import type { Db } from "./db.js";

/**
 * A few sums over what decides whether a token still works — live revocations, restricted
 * agents, recent tombstones — cheap to compute in SQL and in memory alike, so a process can
 * tell that its in-memory copy has drifted from the store without reading every row.
 */
export interface LivenessFingerprint {
  readonly revocations: number;
  readonly revocationExpirySum: number;
  readonly revocationLengthSum: number;
  readonly restricted: number;
  readonly suspended: number;
  readonly floorSum: number;
  readonly tombstones: number;
}

/** The store's fingerprint at `nowSec`, counting tombstones newer than `tombstoneSince`. */
export function storedLivenessFingerprint(
  db: Db,
  nowSec: number,
  tombstoneSince: number,
): LivenessFingerprint {
  const r = db
    .prepare<[number], { n: number; e: number; l: number }>(
      "SELECT count(*) AS n, total(expires_at) AS e, total(length(value)) AS l FROM revocations WHERE expires_at > ?",
    )
    .get(nowSec) ?? { n: 0, e: 0, l: 0 };
  const a = db
    .prepare<[], { n: number; s: number; f: number }>(
      `SELECT count(*) AS n, total(suspended_at IS NOT NULL) AS s, total(tokens_valid_after) AS f
       FROM agents WHERE suspended_at IS NOT NULL OR tokens_valid_after > 0`,
    )
    .get() ?? { n: 0, s: 0, f: 0 };
  const t = db
    .prepare<[number], { n: number }>("SELECT count(*) AS n FROM agent_tombstones WHERE deleted_at > ?")
    .get(tombstoneSince) ?? { n: 0 };
  return {
    revocations: r.n,
    revocationExpirySum: r.e,
    revocationLengthSum: r.l,
    restricted: a.n,
    suspended: a.s,
    floorSum: a.f,
    tombstones: t.n,
  };
}
