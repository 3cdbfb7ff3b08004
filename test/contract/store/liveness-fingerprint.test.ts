import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Liveness } from "../../../src/core/liveness.js";
import {
  type LivenessFingerprint,
  storedLivenessFingerprint,
} from "../../../src/store/liveness-fingerprint.js";
import { pgLivenessFingerprint } from "../../../src/store/postgres/liveness-fingerprint.js";
import { openStore } from "../../../src/store/store.js";
import { openTestPg, pgSkipReason } from "../../helpers/pg.js";
import { describeBackends, insertRows, type Opened, seedOrg } from "./backends.js";

function fingerprint(o: Opened, nowSec: number, tombstoneSince: number): Promise<LivenessFingerprint> {
  return o.kind === "sqlite"
    ? Promise.resolve(storedLivenessFingerprint(o.db, nowSec, tombstoneSince))
    : pgLivenessFingerprint(o.db, nowSec, tombstoneSince);
}

const NOW = 1000;
const TOMBSTONE_SECONDS = 50;

/** Revocations live and dead, restricted and plain agents, old and recent tombstones. */
async function seed(o: Opened): Promise<void> {
  await seedOrg(o, "org-a");
  await insertRows(o, "revocations", [
    { kind: "jti", value: "a", expires_at: 2000 },
    { kind: "jti", value: "bb", expires_at: NOW }, // expires now: no longer counted
    { kind: "family", value: "fam-é", expires_at: 3000 }, // five characters on both backends
    { kind: "family", value: "ccc", expires_at: 999 },
  ]);
  const agent = (id: string, suspended_at: number | null, tokens_valid_after: number) => ({
    id,
    org_id: "org-a",
    name: id,
    tier: "verified",
    roles: "[]",
    tags: "[]",
    created_at: 1,
    suspended_at,
    tokens_valid_after,
  });
  await insertRows(o, "agents", [
    agent("agt-1", 500, 500),
    agent("agt-2", null, 700), // resumed: its floor stays
    agent("agt-3", null, 0),
    agent("agt-4", 800, 900),
  ]);
  await insertRows(o, "agent_tombstones", [
    { id: "gone-1", org_id: "org-a", deleted_at: 100 },
    { id: "gone-2", org_id: "org-a", deleted_at: NOW - TOMBSTONE_SECONDS }, // just too old
    { id: "gone-3", org_id: "org-a", deleted_at: 990 },
  ]);
}

const EXPECTED: LivenessFingerprint = {
  revocations: 2,
  revocationExpirySum: 5000,
  revocationLengthSum: 6,
  restricted: 3,
  suspended: 2,
  floorSum: 2100,
  tombstones: 1,
};

describeBackends("liveness fingerprint", (opened) => {
  it("is all zeros on an empty store", async () => {
    expect(await fingerprint(opened(), NOW, NOW - TOMBSTONE_SECONDS)).toEqual({
      revocations: 0,
      revocationExpirySum: 0,
      revocationLengthSum: 0,
      restricted: 0,
      suspended: 0,
      floorSum: 0,
      tombstones: 0,
    });
  });

  it("sums live revocations, restricted agents and recent tombstones alike on both backends", async () => {
    const o = opened();
    await seed(o);
    expect(await fingerprint(o, NOW, NOW - TOMBSTONE_SECONDS)).toEqual(EXPECTED);
    // Later, fewer revocations are live and fewer tombstones recent.
    expect(await fingerprint(o, 2000, 995)).toEqual({
      ...EXPECTED,
      revocations: 1,
      revocationExpirySum: 3000,
      revocationLengthSum: 5,
      tombstones: 0,
    });
  });
});

describe.skipIf(pgSkipReason !== undefined)(
  "liveness fingerprint, SQLite and PostgreSQL side by side",
  () => {
    it("gives PostgreSQL's fingerprint of the same rows as SQLite's and as the in-memory state loaded from them", async () => {
      const dir = mkdtempSync(join(tmpdir(), "tessera-fingerprint-"));
      const store = openStore(dir);
      const pg = await openTestPg();
      try {
        const sqlite: Opened = { kind: "sqlite", db: store.db };
        const postgres: Opened = { kind: "postgres", db: pg.db };
        await seed(sqlite);
        await seed(postgres);
        const fromPg = await pgLivenessFingerprint(pg.db, NOW, NOW - TOMBSTONE_SECONDS);
        expect(fromPg).toEqual(storedLivenessFingerprint(store.db, NOW, NOW - TOMBSTONE_SECONDS));
        const liveness = await Liveness.open(store, () => new Date(NOW * 1000), TOMBSTONE_SECONDS);
        expect(fromPg).toEqual(liveness.fingerprint(NOW));
        expect(fromPg).toEqual(EXPECTED);
      } finally {
        await pg.drop();
        void store.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);
