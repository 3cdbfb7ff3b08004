import { chmodSync, statSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AccessClaims } from "../../src/auth/token-claims.js";
import { createOrg } from "../../src/core/bootstrap.js";
import { Liveness } from "../../src/core/liveness.js";
import { runMaintenance } from "../../src/core/maintenance.js";
import { databasePath, openDatabase } from "../../src/store/db.js";
import { pruneExpired } from "../../src/store/pruning.js";
import { openStore, type Store } from "../../src/store/store.js";
import { tempDir } from "../helpers/server.js";

const count = (s: Store, table: string) =>
  (s.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

/** Issue #9, finding 15: nothing was pruned. Expired rows now go, in small batches; live ones stay. */
describe("pruning what has outlived its use", () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: Store;
  let orgId = "";
  const NOW = 2_000_000_000;
  beforeEach(async () => {
    tmp = tempDir();
    store = openStore(tmp.dir);
    orgId = (await createOrg(store, "o", new Date(NOW * 1000))).orgId;
  });
  afterEach(() => {
    void store.close();
    tmp.cleanup();
  });

  const seed = (): void => {
    store.db.transaction(seedRows)();
    const seg = store.decisionsDb.prepare(
      "INSERT INTO decision_segments (org_id, first_at_ms, last_at_ms, count, records) VALUES (?, ?, ?, 1, '[]')",
    );
    seg.run(orgId, (NOW - 40 * 86400) * 1000, (NOW - 40 * 86400) * 1000);
    seg.run(orgId, (NOW - 60) * 1000, (NOW - 60) * 1000);
    const batch = store.decisionsDb.prepare(
      "INSERT INTO decision_batches (batch_id, written_at_ms) VALUES (?, ?)",
    );
    batch.run("old", (NOW - 8 * 86400) * 1000);
    batch.run("new", (NOW - 60) * 1000);
    const over = store.decisionsDb.prepare(
      `INSERT INTO decision_overflow (org_id, window_start_ms, window_end_ms, dropped, allowed, denied, dropped_bytes)
       VALUES (?, ?, ?, 1, 1, 0, 10)`,
    );
    over.run(orgId, (NOW - 41 * 86400) * 1000, (NOW - 40 * 86400) * 1000);
    over.run(orgId, (NOW - 120) * 1000, (NOW - 60) * 1000);
  };
  function seedRows(): void {
    const rev = store.db.prepare("INSERT INTO revocations (kind, value, expires_at) VALUES ('jti', ?, ?)");
    // 1,200 expired revocations: more than one batch.
    for (let i = 0; i < 1200; i++) rev.run(`old${i}`, NOW - 1);
    rev.run("live", NOW + 60);
    const rt = store.db.prepare(
      `INSERT INTO refresh_tokens (id, family_id, digest, org_id, subject_kind, subject_id, issued_at, expires_at)
       VALUES (?, 'f', ?, ?, 'agent', 'a', 0, ?)`,
    );
    rt.run("rt_old", Buffer.from("old"), orgId, NOW - 1);
    rt.run("rt_live", Buffer.from("live"), orgId, NOW + 60);
    const ua = store.db.prepare("INSERT INTO used_assertions (jti, agent_id, expires_at) VALUES (?, 'a', ?)");
    ua.run("old", NOW - 3600);
    ua.run("recent", NOW - 10);
    const tomb = store.db.prepare("INSERT INTO agent_tombstones (id, org_id, deleted_at) VALUES (?, ?, ?)");
    tomb.run("agt_old", orgId, NOW - 7200);
    tomb.run("agt_new", orgId, NOW - 60);
  }

  it("deletes only rows past their end, batch after batch, and reports how many", async () => {
    seed();
    let pauses = 0;
    const deleted = await pruneExpired(
      store.db,
      store.decisionsDb,
      { nowSec: NOW, tombstoneSeconds: 3610, decisionSeconds: 30 * 86400 },
      async () => {
        pauses++;
      },
    );
    expect(deleted).toEqual({
      revocations: 1200,
      refresh_tokens: 1,
      used_assertions: 1,
      agent_tombstones: 1,
      decision_segments: 1,
      decision_overflow: 1,
      decision_batches: 1,
    });
    expect(pauses).toBeGreaterThanOrEqual(2);
    expect(store.revocations.live(NOW).map((r) => r.value)).toEqual(["live"]);
    for (const table of [
      "refresh_tokens",
      "used_assertions",
      "agent_tombstones",
      "decision_segments",
      "decision_overflow",
      "decision_batches",
    ])
      expect(count(store, table)).toBe(1);
  });

  it("keeps decisions forever when retention is 0", async () => {
    seed();
    const deleted = await pruneExpired(store.db, store.decisionsDb, {
      nowSec: NOW,
      tombstoneSeconds: 3610,
      decisionSeconds: 0,
    });
    expect(deleted.decision_segments).toBeUndefined();
    expect(count(store, "decision_segments")).toBe(2);
    // Batch ids still go after a week.
    expect(deleted.decision_batches).toBe(1);
  });

  it("lets the in-memory tombstones and revocations follow (a maintenance pass)", async () => {
    let nowMs = NOW * 1000;
    const now = () => new Date(nowMs);
    store.db
      .prepare("INSERT INTO agent_tombstones (id, org_id, deleted_at) VALUES ('agt_x', ?, ?)")
      .run(orgId, NOW);
    const liveness = await Liveness.open(store, now, 100);
    const claims = { sub: "agt_x", jti: "j", iat: NOW - 10, kind: "agent" } as AccessClaims;
    expect(() => liveness.check(claims)).toThrow();
    nowMs += 101_000;
    await runMaintenance(store, liveness, { tombstoneSeconds: 100, decisionRetentionSeconds: 0 }, now);
    expect(count(store, "agent_tombstones")).toBe(0);
    // Any token of the agent has expired by now; the entry is no longer needed.
    expect(() => liveness.check(claims)).not.toThrow();
  });
});

/** Issue #9, finding 17: the database files were 0644. */
describe("database file permissions", () => {
  it("creates the database and its WAL readable by the owner only, and tightens an older 0644 file", () => {
    const tmp = tempDir();
    try {
      const db = openDatabase(tmp.dir);
      db.prepare("CREATE TABLE t (x)").run();
      const path = databasePath(tmp.dir);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(statSync(`${path}-wal`).mode & 0o777).toBe(0o600);
      db.close();
      chmodSync(path, 0o644);
      openDatabase(tmp.dir).close();
      expect(statSync(path).mode & 0o777).toBe(0o600);
    } finally {
      tmp.cleanup();
    }
  });
});
