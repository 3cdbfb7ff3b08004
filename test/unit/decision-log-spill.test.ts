import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DecisionLog, type DecisionLogOptions } from "../../src/audit/decision-log.js";
import type { DecisionSink } from "../../src/audit/decision-sink.js";
import { FileSpill } from "../../src/audit/decision-spill.js";
import type { DecisionBatch, DecisionRecord } from "../../src/store/decisions.js";
import { openStore, type Store } from "../../src/store/store.js";
import { tempDir } from "../helpers/server.js";

function record(i: number, orgId = "org"): DecisionRecord {
  return {
    id: `dec-${i}`,
    orgId,
    atMs: 1_000 + i,
    subjectId: `agent_${i}`,
    scope: "a:b",
    resourceKind: "tool",
    resourceId: "t",
    allowed: i % 2 === 0,
    reason: "ALLOWED_BY_RULE",
    rule: "p/r",
    revision: 1,
    caller: "api_key:key_1",
  };
}

/** Resolves to how `p` settled, or "timeout" after `ms`: a hang fails the assertion, not the run. */
function settledWithin(p: Promise<unknown>, ms: number): Promise<"settled" | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  return Promise.race([p.then(() => "settled" as const), timeout]).finally(() => clearTimeout(timer));
}

/**
 * A sink over the real repository that fails while `failing`; with `landed`, a failing write
 * is stored first and only its answer is lost (the case that could duplicate).
 */
function flakySink(store: Store, opts: { landed?: boolean } = {}) {
  const state = { failing: true, calls: [] as string[] };
  const sink: DecisionSink = {
    write: async (batch) => {
      state.calls.push(batch.id);
      if (state.failing && !opts.landed) throw new Error("disk I/O error");
      store.decisions.write(batch);
      if (state.failing) throw new Error("the answer was lost");
    },
    close: async () => {},
  };
  return { sink, state };
}

/** Decision ids in storage order (segment, then position). */
function storedIds(store: Store): string[] {
  return store.db
    .prepare<[], { id: string }>("SELECT id FROM decision_log ORDER BY segment, position")
    .all()
    .map((r) => r.id);
}

const spillFiles = (dir: string) => readdirSync(dir).filter((f) => f.startsWith("decision-spill."));
const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => `dec-${from + i}`);

/** Fast retries, no quota: the failure path only. */
const FAST: DecisionLogOptions = {
  flushIntervalMs: 1,
  batchSize: 4,
  maxFailures: 3,
  retryBackoffMs: 1,
  orgQuotaBytes: 0,
};

describe("decision log failure mode (sink that fails, real spill file)", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });
  function setup() {
    const tmp = tempDir();
    const store = openStore(tmp.dir);
    cleanups.push(() => {
      void store.close();
      tmp.cleanup();
    });
    return { dir: tmp.dir, store };
  }

  it("after maxFailures failed writes in a row: spills, releases every waiter, reports spilling", async () => {
    const { dir, store } = setup();
    const { sink, state } = flakySink(store);
    const log = new DecisionLog(sink, {
      ...FAST,
      maxPending: 8,
      spillRetryMs: 60_000,
      spill: new FileSpill(dir),
    });
    const states: boolean[] = [];
    log.onSpilling((s) => states.push(s));
    const waits = Array.from({ length: 20 }, (_, i) => log.record(record(i)));
    expect(waits.filter((w) => w instanceof Promise).length).toBeGreaterThan(0);
    // The old log retried forever and never released these.
    expect(await settledWithin(Promise.all(waits), 5_000)).toBe("settled");
    expect(states).toEqual([false, true]);
    expect(log.stats()).toMatchObject({ spilled: 20, written: 0, lost: 0, spilling: true });
    expect(state.calls.slice(0, 3)).toEqual([state.calls[0], state.calls[0], state.calls[0]]);
    expect(store.decisions.count()).toBe(0);
    expect(spillFiles(dir)).toHaveLength(1);
    // Still serving: a record while spilling is accepted at once.
    expect(log.record(record(20))).toBeUndefined();
    await log.close();
    expect(log.backlog).toBe(0);
  });

  it("moves the spill into the database once writes work: in order, nothing lost, nothing duplicated", async () => {
    const { dir, store } = setup();
    const { sink, state } = flakySink(store, { landed: true });
    const log = new DecisionLog(sink, { ...FAST, spillRetryMs: 20, spill: new FileSpill(dir) });
    const states: boolean[] = [];
    log.onSpilling((s) => states.push(s));
    for (let i = 0; i < 10; i++) log.record(record(i));
    await vi.waitFor(() => expect(log.stats().spilling).toBe(true), { timeout: 5_000 });
    for (let i = 10; i < 20; i++) log.record(record(i));
    await vi.waitFor(() => expect(log.stats().spilled).toBe(20), { timeout: 5_000 });
    state.failing = false;
    await vi.waitFor(() => expect(log.stats().spilling).toBe(false), { timeout: 5_000 });
    for (let i = 20; i < 25; i++) log.record(record(i));
    await log.close();
    expect(states).toEqual([false, true, false]);
    // The first batch was stored by the write whose answer was lost, then spilled too: stored once.
    expect(storedIds(store)).toEqual(ids(0, 25));
    expect(spillFiles(dir)).toEqual([]);
  });

  it("a write that never answers counts as a failure: the log spills instead of waiting forever", async () => {
    const { dir } = setup();
    const sink: DecisionSink = { write: () => new Promise(() => {}), close: async () => {} };
    const log = new DecisionLog(sink, {
      ...FAST,
      maxPending: 2,
      writeTimeoutMs: 20,
      spillRetryMs: 60_000,
      spill: new FileSpill(dir),
    });
    const waits = Array.from({ length: 5 }, (_, i) => log.record(record(i)));
    expect(await settledWithin(Promise.all(waits), 5_000)).toBe("settled");
    expect(log.stats()).toMatchObject({ spilling: true, spilled: 5 });
    await log.close();
  });

  it("close() returns within its bound when the sink never answers, with every record in the spill file", async () => {
    const { dir, store } = setup();
    const never = () => new Promise<void>(() => {});
    const log = new DecisionLog(
      { write: never, close: never },
      { ...FAST, writeTimeoutMs: 60_000, closeTimeoutMs: 1_000, spill: new FileSpill(dir) },
    );
    for (let i = 0; i < 5; i++) log.record(record(i));
    void log.flush(); // a write that will never answer is in flight
    for (let i = 5; i < 8; i++) log.record(record(i));
    expect(await settledWithin(log.close(), 5_000)).toBe("settled");
    expect(log.stats()).toMatchObject({ spilled: 8, lost: 0 });
    // The next process adopts the file and stores all of it, in order.
    const next = new DecisionLog(
      { write: async (b) => void store.decisions.write(b), close: async () => {} },
      { spillRetryMs: 10, spill: new FileSpill(dir, { pid: 1, isAlive: () => false }) },
    );
    expect(next.stats().spilling).toBe(true);
    await vi.waitFor(() => expect(next.stats().spilling).toBe(false), { timeout: 5_000 });
    await next.close();
    expect(storedIds(store)).toEqual(ids(0, 8));
  });
});

describe("spill files", () => {
  const batch = (id: string, from: number, n: number): DecisionBatch => ({
    id,
    records: Array.from({ length: n }, (_, i) => record(from + i)),
    overflow: [],
  });

  it("are adopted from dead processes only, oldest first; a torn last line is skipped and reported", async () => {
    const tmp = tempDir();
    try {
      const dead = new FileSpill(tmp.dir, { pid: 101, isAlive: () => true });
      await dead.append([batch("b1", 0, 2), batch("b2", 2, 2)]);
      await dead.close();
      const live = new FileSpill(tmp.dir, { pid: 202, isAlive: () => true });
      await live.append([batch("b3", 4, 1)]);
      await live.close();
      const torn = join(tmp.dir, "decision-spill.101.0.jsonl");
      writeFileSync(torn, `${JSON.stringify(batch("b0", 9, 1))}\nnot json\n{"id":"half`, { flag: "a" });

      const errors: unknown[] = [];
      const mine = new FileSpill(tmp.dir, {
        pid: 303,
        isAlive: (pid) => pid === 202,
        onError: (e) => errors.push(e),
      });
      expect(mine.hasPending()).toBe(true);
      const seen: string[] = [];
      for (let chunk = await mine.next(1); chunk; chunk = await mine.next(1)) {
        seen.push(...chunk.batches.map((b) => b.id));
        chunk.commit();
      }
      expect(seen).toEqual(["b1", "b2", "b0"]);
      expect(errors).toHaveLength(1);
      expect(mine.hasPending()).toBe(false);
      // The live process's file is left alone.
      expect(spillFiles(tmp.dir)).toEqual(["decision-spill.202.0.jsonl"]);
    } finally {
      tmp.cleanup();
    }
  });

  it("a second FileSpill of this process on the same directory leaves the first's files alone until it closes", async () => {
    const tmp = tempDir();
    try {
      const first = new FileSpill(tmp.dir);
      await first.append([batch("b1", 0, 1)]);
      const second = new FileSpill(tmp.dir);
      expect(second.hasPending()).toBe(false);
      await second.append([batch("b2", 1, 1)]);
      expect(spillFiles(tmp.dir)).toHaveLength(2);
      await first.close();
      await second.close();
      const third = new FileSpill(tmp.dir);
      const seen: string[] = [];
      for (let chunk = await third.next(1); chunk; chunk = await third.next(1)) {
        seen.push(...chunk.batches.map((b) => b.id));
        chunk.commit();
      }
      expect(seen).toEqual(["b1", "b2"]);
    } finally {
      tmp.cleanup();
    }
  });

  it("a chunk not committed is read again (an import that failed half way is retried whole)", async () => {
    const tmp = tempDir();
    try {
      const spill = new FileSpill(tmp.dir);
      await spill.append([batch("b1", 0, 1), batch("b2", 1, 1)]);
      expect((await spill.next(1))?.batches.map((b) => b.id)).toEqual(["b1", "b2"]);
      const again = await spill.next(1);
      expect(again?.batches.map((b) => b.id)).toEqual(["b1", "b2"]);
      again?.commit();
      expect(await spill.next(1)).toBeUndefined();
      expect(spillFiles(tmp.dir)).toEqual([]);
    } finally {
      tmp.cleanup();
    }
  });
});
