import type { LivenessFingerprint } from "../liveness-fingerprint.js";
import type { Sql } from "./pg-db.js";

/**
 * `storedLivenessFingerprint` on PostgreSQL: the same sums over the same rows, so a process
 * compares its in-memory liveness state with either backend alike. One statement, one snapshot.
 */
export async function pgLivenessFingerprint(
  sql: Sql,
  nowSec: number,
  tombstoneSince: number,
): Promise<LivenessFingerprint> {
  const r = await sql.one<LivenessFingerprint>(
    `SELECT r.n AS revocations, r.e AS "revocationExpirySum", r.l AS "revocationLengthSum",
            a.n AS restricted, a.s AS suspended, a.f AS "floorSum", t.n AS tombstones
       FROM (SELECT count(*) AS n, COALESCE(sum(expires_at), 0) AS e, COALESCE(sum(length(value)), 0) AS l
               FROM revocations WHERE expires_at > $1) r,
            (SELECT count(*) AS n, count(*) FILTER (WHERE suspended_at IS NOT NULL) AS s,
                    COALESCE(sum(tokens_valid_after), 0) AS f
               FROM agents WHERE suspended_at IS NOT NULL OR tokens_valid_after > 0) a,
            (SELECT count(*) AS n FROM agent_tombstones WHERE deleted_at > $2) t`,
    [nowSec, tombstoneSince],
  );
  return {
    revocations: r?.revocations ?? 0,
    revocationExpirySum: r?.revocationExpirySum ?? 0,
    revocationLengthSum: r?.revocationLengthSum ?? 0,
    restricted: r?.restricted ?? 0,
    suspended: r?.suspended ?? 0,
    floorSum: r?.floorSum ?? 0,
    tombstones: r?.tombstones ?? 0,
  };
}
