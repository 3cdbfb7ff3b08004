import Database from "better-sqlite3";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { decodeBatch, encodeBatch } from "../../src/audit/decision-batch.js";
import { DecisionLog } from "../../src/audit/decision-log.js";
import { type DecisionSink, directSink } from "../../src/audit/decision-sink.js";
import { databasePath } from "../../src/store/db.js";
import type { DecisionRecord } from "../../src/store/decisions.js";
import { MIGRATIONS } from "../../src/store/migrations/index.js";
import { openStore, type Store } from "../../src/store/store.js";
import { tempDir } from "../helpers/server.js";

function record(i: number): DecisionRecord {
  return {
    id: `dec-${i}`,
    orgId: "org",
    atMs: i,
    subjectId: "s",
    scope: "a:b",
    resourceKind: "tool",
    resourceId: "t",
    allowed: i % 2 === 0,
    reason: "ALLOWED_BY_RULE",
    rule: "p/r",
    revision: 1,
    caller: `api_key:key_${i % 3}`,
  };
}

describe("decision log", () => {
  const tmp = tempDir();
  const store: Store = openStore(tmp.dir);
  const repo = () => store.decisions;
  afterAll(() => {
    void store.close();
    tmp.cleanup();
  });

  it("writes nothing on the caller's path, then everything in one batch", async () => {
    const before = repo().count();
    const log = new DecisionLog(directSink(repo()), { flushIntervalMs: 60_000 });
    for (let i = 0; i < 10; i++) expect(log.record(record(i))).toBeUndefined();
    expect(repo().count()).toBe(before);
    await log.close();
    expect(repo().count()).toBe(before + 10);
    expect(log.backlog).toBe(0);
  });

  it("applies backpressure instead of dropping when writes fall behind", async () => {
    const log = new DecisionLog(directSink(repo()), {
      flushIntervalMs: 60_000,
      batchSize: 1_000_000,
      maxPending: 5,
    });
    const waits = Array.from({ length: 8 }, (_, i) => log.record(record(100 + i)));
    expect(waits.slice(0, 4).every((w) => w === undefined)).toBe(true);
    expect(waits.slice(4).every((w) => w instanceof Promise)).toBe(true);
    await log.flush();
    await Promise.all(waits);
    expect(
      repo()
        .recent("org", 1000)
        .filter((r) => r.id.startsWith("dec-10")),
    ).toHaveLength(8);
    await log.close();
  });

  it("keeps a batch that failed to write, in order, and writes it later", async () => {
    const written: DecisionRecord[][] = [];
    const write = vi
      .fn<DecisionSink["write"]>()
      .mockImplementationOnce(async () => {
        throw new Error("disk full");
      })
      .mockImplementation(async (batch) => {
        written.push([...batch.records]);
      });
    const errors: unknown[] = [];
    const log = new DecisionLog(
      { write, close: async () => {} },
      { flushIntervalMs: 60_000, onError: (e) => errors.push(e) },
    );
    log.record(record(1));
    log.record(record(2));
    await log.flush();
    expect(errors).toHaveLength(1);
    expect(log.backlog).toBe(2);
    log.record(record(3));
    await log.close();
    expect(written.flat().map((r) => r.id)).toEqual(["dec-1", "dec-2", "dec-3"]);
    expect(log.backlog).toBe(0);
  });
});

describe("decision log batching (fake timers)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A sink that records each batch it is given; with `hold`, each write waits until released. */
  function recordingSink(opts: { hold?: boolean } = {}) {
    const batches: DecisionRecord[][] = [];
    /** The arrays exactly as handed over, to see whether the log touches one after handing it over. */
    const handed: (readonly DecisionRecord[])[] = [];
    const releases: (() => void)[] = [];
    const sink: DecisionSink = {
      write: ({ records }) => {
        handed.push(records);
        batches.push([...records]);
        if (!opts.hold) return Promise.resolve();
        return new Promise<void>((resolve) => releases.push(resolve));
      },
      close: async () => {},
    };
    /** Lets the oldest held write finish. */
    const release = async () => {
      const r = releases.shift();
      expect(r, "a write to release").toBeDefined();
      r?.();
      await vi.advanceTimersByTimeAsync(0);
    };
    return { sink, batches, handed, release, ids: () => batches.flat().map((r) => r.id) };
  }

  const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => `dec-${from + i}`);

  it("1,000 records in one turn: nothing written on the caller's path, then few batches, in order, none lost", async () => {
    const { sink, batches, ids: written } = recordingSink();
    const log = new DecisionLog(sink, { flushIntervalMs: 10, batchSize: 256 });
    const armed = vi.spyOn(globalThis, "setTimeout");
    for (let i = 0; i < 1000; i++) expect(log.record(record(i))).toBeUndefined();
    expect(batches).toHaveLength(0);
    expect(log.backlog).toBe(1000);
    // A timer for the interval and one when the batch filled, not one per record.
    expect(armed.mock.calls.length).toBeLessThanOrEqual(2);
    expect(vi.getTimerCount()).toBe(1);
    armed.mockRestore();
    // A full batch is due at once: the interval need not pass.
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(0);
    expect(batches.length).toBeGreaterThan(0);
    await vi.advanceTimersByTimeAsync(10);
    expect(written()).toEqual(ids(0, 1000));
    expect(batches.every((b) => b.length > 0)).toBe(true);
    expect(batches.length).toBeLessThanOrEqual(Math.ceil(1000 / 256));
    expect(log.backlog).toBe(0);
    await log.close();
    expect(written()).toEqual(ids(0, 1000));
  });

  it("fewer records than a batch wait for the interval, then go in one batch", async () => {
    const { sink, batches, ids: written } = recordingSink();
    const log = new DecisionLog(sink, { flushIntervalMs: 50, batchSize: 256 });
    for (let i = 0; i < 10; i++) log.record(record(i));
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(49);
    expect(batches).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toHaveLength(1);
    expect(written()).toEqual(ids(0, 10));
    await log.close();
  });

  it("records arriving one by one do not push the flush back", async () => {
    const { sink, batches, ids: written } = recordingSink();
    const log = new DecisionLog(sink, { flushIntervalMs: 50, batchSize: 256 });
    for (let i = 0; i < 10; i++) {
      log.record(record(i));
      await vi.advanceTimersByTimeAsync(4);
    }
    // 10 records over 40 ms: the first one's timer fires at 50 ms, not 50 ms after the last.
    await vi.advanceTimersByTimeAsync(10);
    expect(batches).toHaveLength(1);
    expect(written()).toEqual(ids(0, 10));
    await log.close();
  });

  it("records that arrive while a write is in flight go in a later batch, in order, none dropped", async () => {
    const { sink, batches, handed, release, ids: written } = recordingSink({ hold: true });
    const log = new DecisionLog(sink, { flushIntervalMs: 20, batchSize: 256 });
    for (let i = 0; i < 3; i++) log.record(record(i));
    await vi.advanceTimersByTimeAsync(20);
    expect(batches).toHaveLength(1);
    expect(batches[0]?.map((r) => r.id)).toEqual(ids(0, 3));

    // The first write is still in flight.
    for (let i = 3; i < 6; i++) log.record(record(i));
    expect(log.backlog).toBe(6);
    // (Less than the 100 ms loss window: a longer write would make later callers wait, tested below.)
    await vi.advanceTimersByTimeAsync(50);
    expect(batches).toHaveLength(1);
    // The batch handed to the sink is not added to after the fact.
    expect(handed[0]?.map((r) => r.id)).toEqual(ids(0, 3));

    await release();
    // They have waited their interval (and more) during the write: the next write starts at once
    // (the interval counts from when a record was queued, not from the end of the last write).
    expect(batches).toHaveLength(2);
    expect(batches[1]?.map((r) => r.id)).toEqual(ids(3, 3));
    for (let i = 6; i < 8; i++) log.record(record(i));
    await release();
    // Queued just now, fewer than a batch: they wait for the interval (no tiny batch at once).
    expect(batches).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(19);
    expect(batches).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toHaveLength(3);
    await release();
    expect(written()).toEqual(ids(0, 8));
    expect(handed.map((b) => b.length)).toEqual([3, 3, 2]);
    expect(log.backlog).toBe(0);
    await log.close();
  });

  it("a full batch that arrived during a write is written as soon as the write ends", async () => {
    const { sink, batches, release, ids: written } = recordingSink({ hold: true });
    const log = new DecisionLog(sink, { flushIntervalMs: 60_000, batchSize: 4 });
    for (let i = 0; i < 4; i++) log.record(record(i));
    await vi.advanceTimersByTimeAsync(0);
    expect(batches).toHaveLength(1);
    for (let i = 4; i < 9; i++) log.record(record(i));
    await vi.advanceTimersByTimeAsync(0);
    expect(batches).toHaveLength(1);
    await release();
    await vi.advanceTimersByTimeAsync(0);
    expect(batches).toHaveLength(2);
    expect(batches[1]?.map((r) => r.id)).toEqual(ids(4, 5));
    await release();
    expect(written()).toEqual(ids(0, 9));
    await log.close();
  });

  it("close() writes what arrived during an in-flight write", async () => {
    const { sink, release, ids: written } = recordingSink({ hold: true });
    const log = new DecisionLog(sink, { flushIntervalMs: 20, batchSize: 256 });
    log.record(record(0));
    await vi.advanceTimersByTimeAsync(20);
    log.record(record(1));
    log.record(record(2));
    const closed = log.close();
    await release();
    await release();
    await closed;
    expect(written()).toEqual(ids(0, 3));
    expect(log.backlog).toBe(0);
  });
});

describe("decision log storage (segments)", () => {
  it("stores a batch as one segment per org and reads it back per decision, newest first", () => {
    const tmp = tempDir();
    const store = openStore(tmp.dir);
    try {
      const rows = [1, 2, 3, 4, 5].map((i) => ({ ...record(i), orgId: i % 2 ? "org-a" : "org-b" }));
      store.decisions.insert(rows);
      const segments = store.db
        .prepare<[], { org_id: string; count: number; first_at_ms: number; last_at_ms: number }>(
          "SELECT org_id, count, first_at_ms, last_at_ms FROM decision_segments ORDER BY org_id",
        )
        .all();
      expect(segments).toEqual([
        { org_id: "org-a", count: 3, first_at_ms: 1, last_at_ms: 5 },
        { org_id: "org-b", count: 2, first_at_ms: 2, last_at_ms: 4 },
      ]);
      expect(store.decisions.count()).toBe(5);
      expect(store.decisions.recent("org-a", 10)).toEqual(rows.filter((r) => r.orgId === "org-a").reverse());
      expect(store.decisions.recent("org-b", 1).map((r) => r.id)).toEqual(["dec-4"]);
    } finally {
      void store.close();
      tmp.cleanup();
    }
  });

  it("moves decisions stored one row each (migration 5) into segments, nothing lost", () => {
    const tmp = tempDir();
    const db = new Database(databasePath(tmp.dir));
    for (const m of MIGRATIONS.filter((x) => x.version <= 5)) {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }
    // Rows as migration 5 stored them, one per decision.
    const insert = db.prepare(
      `INSERT INTO decision_log (id, org_id, at_ms, subject_id, scope, resource_kind, resource_id, allowed, reason, rule, revision)
       VALUES (@id, @orgId, @atMs, @subjectId, @scope, @resourceKind, @resourceId, @allowed, @reason, @rule, @revision)`,
    );
    const old = [1, 2, 3].map((i) => ({ ...record(i), orgId: "org-old" }));
    for (const r of old) insert.run({ ...r, allowed: r.allowed ? 1 : 0 });
    db.close();
    const store = openStore(tmp.dir);
    try {
      expect(store.db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.at(-1)?.version);
      expect(store.decisions.recent("org-old", 10)).toEqual(old.map((r) => ({ ...r, caller: "" })).reverse());
      expect(store.db.prepare("SELECT count(*) AS n FROM decision_segments").get()).toEqual({ n: 1 });
    } finally {
      void store.close();
      tmp.cleanup();
    }
  });
});

describe("decision batches sent to the writer thread", () => {
  it("decode to exactly the records encoded, each distinct string sent once", () => {
    const rows: DecisionRecord[] = [0, 1, 2, 3].map((i) => ({
      ...record(i),
      orgId: `org-${i % 2}`,
      subjectId: `s-${i}`,
      scope: i % 2 ? "a:b" : "c:d",
      resourceKind: `kind-${i}`,
      resourceId: `res-${i}`,
      reason: i % 2 ? "ALLOWED_BY_RULE" : "NO_MATCHING_RULE",
      rule: `p/r${i}`,
      revision: 2 ** 40 + i,
    }));
    const batch = encodeBatch({ id: "batch-1", records: rows, overflow: [] });
    expect(decodeBatch(batch)).toEqual({ id: "batch-1", records: rows, overflow: [] });
    expect(new Set(batch.strings).size).toBe(batch.strings.length);
    expect(batch.strings.filter((s) => s.startsWith("org-"))).toHaveLength(2);
  });

  it("carry a trusted org's subject org through the writer thread and the store, and none otherwise", () => {
    const rows: DecisionRecord[] = [
      { ...record(0), orgId: "org-a", subjectOrg: "org-b" },
      { ...record(1), orgId: "org-a" },
    ];
    const decoded = decodeBatch(encodeBatch({ id: "batch-2", records: rows, overflow: [] }));
    expect(decoded.records).toEqual(rows);
    const tmp = tempDir();
    const store = openStore(tmp.dir);
    try {
      store.decisions.write(decoded);
      expect(store.decisions.recent("org-a", 10).map((r) => r.subjectOrg)).toEqual([undefined, "org-b"]);
      const view = store.db.prepare("SELECT subject_org FROM decision_log ORDER BY at_ms").all();
      expect(view).toEqual([{ subject_org: "org-b" }, { subject_org: "" }]);
    } finally {
      void store.close();
      tmp.cleanup();
    }
  });
});
