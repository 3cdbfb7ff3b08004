import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Liveness } from "../../src/core/liveness.js";
import { runMaintenance } from "../../src/core/maintenance.js";
import type { DecisionRecord } from "../../src/store/decisions.js";
import { pruneExpired } from "../../src/store/pruning.js";
import { openStore, type Store } from "../../src/store/store.js";
import { tempDir } from "../helpers/server.js";

/**
 * Issue #13, retention, on a real SQLite file with an injected clock: decisions older than the
 * configured age go in small batches, the decision writer gets the write lock between batches,
 * and finding old segments never scans the table (it would hold the write lock meanwhile).
 */

const DAY = 86_400;
const NOW = 2_000_000_000; // seconds: the injected clock

const rec = (i: number, atSec: number): DecisionRecord => ({
  id: `d${i}`,
  orgId: "o",
  atMs: atSec * 1000,
  subjectId: "a",
  scope: "s:r",
  resourceKind: "",
  resourceId: "",
  allowed: true,
  reason: "RULE_MATCHED",
  rule: "r",
  revision: 1,
});

describe("decision retention", () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: Store;
  beforeEach(() => {
    tmp = tempDir();
    store = openStore(tmp.dir);
  });
  afterEach(() => {
    void store.close();
    tmp.cleanup();
  });

  const segments = () =>
    store.decisionsDb
      .prepare<[], { last: number }>("SELECT last_at_ms AS last FROM decision_segments ORDER BY seq")
      .all()
      .map((r) => r.last / 1000);

  it("deletes segments older than the retention in batches, letting decision writes in between", async () => {
    // 1,100 one-decision segments 40 days old (three batches of 500), 10 from the last hour.
    for (let i = 0; i < 1100; i++) store.decisions.insert([rec(i, NOW - 40 * DAY + i)]);
    for (let i = 0; i < 10; i++) store.decisions.insert([rec(5000 + i, NOW - 3600 + i)]);
    let written = 0;
    const deleted = await pruneExpired(
      store.db,
      store.decisionsDb,
      { nowSec: NOW, tombstoneSeconds: 60, decisionSeconds: 30 * DAY },
      async () => {
        // Between two batches the write lock is free: the decision writer's batch goes in at once.
        store.decisions.insert([rec(9000 + written, NOW)]);
        written++;
      },
    );
    expect(deleted.decision_segments).toBe(1100);
    expect(written).toBeGreaterThanOrEqual(2);
    const left = segments();
    expect(left.length).toBe(10 + written);
    expect(left.every((t) => t >= NOW - 3600)).toBe(true);
  });

  it("a maintenance pass with the clock moved on deletes what has aged past the retention, and 0 keeps all", async () => {
    for (let d = 0; d < 10; d++) store.decisions.insert([rec(d, NOW - d * DAY)]);
    const pass = async (nowSec: number, days: number) =>
      runMaintenance(
        store,
        await Liveness.open(store, () => new Date(nowSec * 1000), 60),
        { tombstoneSeconds: 60, decisionRetentionSeconds: days * DAY },
        () => new Date(nowSec * 1000),
      );
    await pass(NOW, 0);
    expect(segments().length).toBe(10);
    await pass(NOW, 5); // keeps the decisions of days 0-4 (day 5 is exactly at the bound: kept)
    expect(segments().length).toBe(6);
    await pass(NOW + 2 * DAY, 5); // two days later, two more have aged out
    expect(segments().length).toBe(4);
  });

  it("finds old segments and batch ids on an index, never by scanning the table", () => {
    // The inner SELECT of pruneExpired's batched DELETE, as it builds it for these tables.
    for (const [key, table, where, order] of [
      ["rowid", "decision_segments", "last_at_ms < 1", "last_at_ms"],
      ["batch_id", "decision_batches", "written_at_ms < 1", "written_at_ms"],
    ]) {
      const plan = store.decisionsDb
        .prepare(`EXPLAIN QUERY PLAN SELECT ${key} FROM ${table} WHERE ${where} ORDER BY ${order} LIMIT 500`)
        .all()
        .map((r) => (r as { detail: string }).detail)
        .join(" | ");
      expect(plan).toMatch(/USING (COVERING )?INDEX/);
      expect(plan).not.toMatch(/^SCAN/);
    }
  });
});
