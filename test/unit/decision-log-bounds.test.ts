import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { boundRecord, recordSize } from "../../src/audit/decision-bounds.js";
import { DecisionLog } from "../../src/audit/decision-log.js";
import { directSink } from "../../src/audit/decision-sink.js";
import { type DecisionBatch, type DecisionRecord, DecisionRepository } from "../../src/store/decisions.js";
import { openStore, type Store } from "../../src/store/store.js";
import { tempDir } from "../helpers/server.js";

function record(i: number, over: Partial<DecisionRecord> = {}): DecisionRecord {
  return {
    id: `dec-${i}`,
    orgId: "org",
    atMs: 1_000 + i,
    subjectId: `agent_${i}`,
    scope: "a:b",
    resourceKind: "tool",
    resourceId: "t",
    allowed: i % 2 === 0,
    reason: "ALLOWED_BY_RULE",
    rule: "p/r",
    revision: 1,
    caller: "token:agt_1",
    ...over,
  };
}

function withStore(fn: (store: Store) => Promise<void> | void) {
  return async () => {
    const tmp = tempDir();
    const store = openStore(tmp.dir);
    try {
      await fn(store);
    } finally {
      void store.close();
      tmp.cleanup();
    }
  };
}

const segmentSizes = (store: Store) =>
  store.db
    .prepare<[], { bytes: number; count: number }>(
      "SELECT length(CAST(records AS BLOB)) AS bytes, count FROM decision_segments",
    )
    .all();

describe("records too large to store are cut down, field by field", () => {
  it("keeps short fields whole, shares the rest among long ones, marks each cut", () => {
    const r = record(1, { subjectId: "s".repeat(60_000), resourceId: "r".repeat(30_000) });
    const bounded = boundRecord(r, 8 * 1024);
    expect(recordSize(bounded)).toBeLessThanOrEqual(8 * 1024);
    expect(bounded).toMatchObject({ scope: "a:b", resourceKind: "tool", rule: "p/r", caller: "token:agt_1" });
    expect(bounded.subjectId).toMatch(/^s+…\[truncated from 60000 chars\]$/);
    expect(bounded.resourceId).toMatch(/^r+…\[truncated from 30000 chars\]$/);
    expect(bounded.subjectId.length).toBe(bounded.resourceId.length);
  });

  it("never splits a surrogate pair, and returns a record that fits unchanged", () => {
    const r = record(1, { subjectId: "😀".repeat(20_000) });
    const cut = boundRecord(r, 2048).subjectId;
    const kept = cut.slice(0, cut.indexOf("…"));
    expect(kept.length % 2).toBe(0);
    expect(Buffer.from(kept, "utf8").toString("utf8")).toBe(kept);
    const small = record(2);
    expect(boundRecord(small, 2048)).toBe(small);
  });
});

describe("finding 1: large fields cannot make the log unwritable", () => {
  it(
    "60 KB subject ids × 100 checks × 48 callers: records truncated, batches and segments bounded, all stored",
    withStore(async (store) => {
      // Bounds smaller than the defaults keep the test quick; the shape is the finding's.
      const batches: DecisionBatch[] = [];
      const repo = new DecisionRepository(store.db, { maxSegmentBytes: 64 * 1024 });
      const log = new DecisionLog(
        {
          write: async (b) => {
            batches.push(b);
            repo.write(b);
          },
          close: async () => {},
        },
        { orgQuotaBytes: 0, maxRecordBytes: 1024, maxBatchBytes: 256 * 1024, flushIntervalMs: 1 },
      );
      const subject = "x".repeat(60_000);
      for (let caller = 0; caller < 48; caller++)
        for (let check = 0; check < 100; check++)
          log.record(record(caller * 100 + check, { subjectId: subject, resourceId: `doc-${check}` }));
      await log.close();
      expect(log.stats()).toMatchObject({ written: 4800, truncated: 4800, lost: 0 });
      expect(store.decisions.count()).toBe(4800);
      for (const b of batches) {
        expect(b.records.reduce((sum, r) => sum + recordSize(r), 0)).toBeLessThanOrEqual(256 * 1024);
        for (const r of b.records) expect(r.subjectId).toMatch(/…\[truncated from 60000 chars\]$/);
      }
      expect(Math.max(...segmentSizes(store).map((s) => s.bytes))).toBeLessThanOrEqual(64 * 1024);
    }),
  );

  it(
    "with an 8 MiB quota, what one org can write in a window is its quota, not 49 times what it sent",
    withStore(async (store) => {
      const quota = { orgQuotaBytes: 8 * 1024 * 1024 };
      const log = new DecisionLog(directSink(store.decisions), { now: () => 10_000, ...quota });
      const subject = "x".repeat(60_000);
      for (let i = 0; i < 40 * 100; i++)
        log.record(record(i, { subjectId: subject, resourceId: `doc-${i % 100}`, atMs: 10_000 }));
      await log.close();
      const stored = segmentSizes(store).reduce((sum, s) => sum + s.bytes, 0);
      expect(stored).toBeLessThanOrEqual(8 * 1024 * 1024 * 1.1);
      const [summary] = store.decisions.overflow("org");
      expect(store.decisions.count() + (summary?.dropped ?? 0)).toBe(4000);
    }),
  );

  it(
    "splits one org's part of a batch into segments by bytes, read back whole and in order",
    withStore((store) => {
      const repo = new DecisionRepository(store.db, { maxSegmentBytes: 4096 });
      const rows = Array.from({ length: 12 }, (_, i) => record(i, { resourceId: "r".repeat(1000) }));
      repo.write({ id: "b1", records: rows, overflow: [] });
      const sizes = segmentSizes(store);
      expect(sizes.length).toBeGreaterThan(3);
      expect(sizes.every((s) => s.bytes <= 4096)).toBe(true);
      expect(store.decisions.recent("org", 100)).toEqual([...rows].reverse());
      // The same batch again (a retry after a lost answer) stores nothing.
      expect(repo.write({ id: "b1", records: rows, overflow: [] })).toBe(false);
      expect(store.decisions.count()).toBe(12);
    }),
  );
});

describe("per-org quota", () => {
  let now = 0;
  beforeEach(() => {
    now = 10_000;
  });

  it(
    "caps one org while another org's records are still stored individually, and says what it dropped",
    withStore(async (store) => {
      const log = new DecisionLog(directSink(store.decisions), {
        orgQuotaBytes: 10 * 1024,
        orgQuotaWindowMs: 60_000,
        now: () => now,
      });
      const big = "n".repeat(900);
      for (let i = 0; i < 200; i++) log.record(record(i, { orgId: "noisy", subjectId: big, atMs: now + i }));
      for (let i = 0; i < 50; i++) log.record(record(1000 + i, { orgId: "quiet", atMs: now + i }));
      await log.close();
      const quiet = store.decisions.recent("quiet", 1000);
      expect(quiet).toHaveLength(50);
      expect(store.decisions.overflow("quiet")).toEqual([]);
      const stored = store.decisions.recent("noisy", 1000).length;
      expect(stored).toBeGreaterThan(0);
      expect(stored).toBeLessThanOrEqual(11);
      expect(store.decisions.overflow("noisy")).toEqual([
        {
          orgId: "noisy",
          windowStartMs: 0,
          windowEndMs: 60_000,
          dropped: 200 - stored,
          allowed: expect.any(Number),
          denied: expect.any(Number),
          droppedBytes: expect.any(Number),
        },
      ]);
      const [summary] = store.decisions.overflow("noisy");
      expect((summary?.allowed ?? 0) + (summary?.denied ?? 0)).toBe(200 - stored);
      expect(log.stats().summarised).toBe(200 - stored);
    }),
  );

  describe("windows (fake timers)", () => {
    beforeEach(() => {
      vi.useFakeTimers();
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    it(
      "writes the summary when the window ends, without waiting for close, and stores the org again",
      withStore(async (store) => {
        const log = new DecisionLog(directSink(store.decisions), {
          orgQuotaBytes: 1024,
          orgQuotaWindowMs: 1_000,
          flushIntervalMs: 10,
          now: () => Date.now(),
        });
        vi.setSystemTime(5_000);
        for (let i = 0; i < 30; i++) log.record(record(i, { atMs: Date.now() }));
        await vi.advanceTimersByTimeAsync(1_000);
        const [summary] = store.decisions.overflow("org");
        expect(summary).toMatchObject({ windowStartMs: 5_000, windowEndMs: 6_000 });
        const firstWindow = store.decisions.count();
        expect(firstWindow + (summary?.dropped ?? 0)).toBe(30);
        for (let i = 30; i < 33; i++) log.record(record(i, { atMs: Date.now() }));
        await vi.advanceTimersByTimeAsync(10);
        expect(store.decisions.count()).toBe(firstWindow + 3);
        await log.close();
        expect(store.decisions.overflow("org")).toHaveLength(1);
      }),
    );
  });
});
