import Database from "better-sqlite3";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { DecisionLog } from "../../src/audit/decision-log.js";
import { type DecisionSink, directSink } from "../../src/audit/decision-sink.js";
import type { SpillStore } from "../../src/audit/decision-spill.js";
import { openDecisionLog } from "../../src/audit/open-decision-log.js";
import { TesseraError } from "../../src/domain/errors.js";
import { databasePath } from "../../src/store/db.js";
import type { DecisionBatch, DecisionRecord } from "../../src/store/decisions.js";
import { openStore, type Store } from "../../src/store/store.js";
import { tempDir } from "../helpers/server.js";

function record(i: number, orgId = "org"): DecisionRecord {
  return {
    id: `dur-${i}`,
    orgId,
    atMs: 1_000 + i,
    subjectId: "s",
    scope: "a:b",
    resourceKind: "tool",
    resourceId: "t",
    allowed: true,
    reason: "ALLOWED_BY_RULE",
    rule: "p/r",
    revision: 1,
  };
}

/** The reason a promise was rejected with (the test fails when it resolves). */
async function reasonOf(p: Promise<void> | undefined): Promise<string> {
  expect(p).toBeInstanceOf(Promise);
  const err = await p?.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TesseraError);
  return (err as TesseraError).reason;
}

/** A sink over the real repository that counts writes; while `gate` is set, writes wait for it. */
function gatedSink(store: Store) {
  const inner = directSink(store.decisions);
  let open: Promise<void> | undefined;
  let openGate = () => {};
  const s = {
    writes: 0,
    close: () => {
      open = new Promise((resolve) => {
        openGate = resolve;
      });
    },
    open: () => {
      openGate();
      open = undefined;
    },
    sink: {
      write: async (batch: DecisionBatch) => {
        s.writes++;
        if (open) await open;
        await inner.write(batch);
      },
      close: async () => {},
    } satisfies DecisionSink,
  };
  return s;
}

describe("sync durability: group commit over a real SQLite file", () => {
  const tmp = tempDir();
  const store = openStore(tmp.dir);
  // Another connection, as another process would read the file.
  const reader = new Database(databasePath(tmp.dir), { readonly: true });
  const stored = (id: string) =>
    reader.prepare<[string], { n: number }>("SELECT count(*) AS n FROM decision_log WHERE id = ?").get(id)?.n;
  const transactions = () =>
    reader.prepare<[], { n: number }>("SELECT count(*) AS n FROM decision_batches").get()?.n ?? 0;
  afterAll(() => {
    reader.close();
    void store.close();
    tmp.cleanup();
  });

  it("answers each caller only once its row is in the database; those arriving during a commit share the next one", async () => {
    const s = gatedSink(store);
    const log = new DecisionLog(s.sink, { durability: "sync" });
    const before = transactions();
    const seenAtResolve: (number | undefined)[] = [];
    const answer = (i: number) => log.record(record(i))?.then(() => seenAtResolve.push(stored(`dur-${i}`)));
    s.close(); // the first commit is slow
    const first = answer(0);
    expect(first).toBeInstanceOf(Promise);
    await vi.waitFor(() => expect(s.writes).toBe(1));
    // 99 more while it runs: none may be answered by the first commit.
    const rest = Array.from({ length: 99 }, (_, i) => answer(1 + i));
    let answered = 0;
    for (const p of rest) void p?.then(() => answered++);
    s.open();
    await first;
    expect(seenAtResolve).toEqual([1]);
    expect(answered).toBe(0);
    await Promise.all(rest);
    expect(seenAtResolve).toEqual(Array(100).fill(1));
    // One transaction for the first, one for the 99 that waited: a group commit.
    expect(s.writes).toBe(2);
    expect(transactions() - before).toBe(2);
    await log.close();
  });

  it("1,000 decisions at once: a handful of transactions (one per full batch), every one stored when answered", async () => {
    const s = gatedSink(store);
    const log = new DecisionLog(s.sink, { durability: "sync" });
    const before = transactions();
    const ids = Array.from({ length: 1000 }, (_, i) => 1_000 + i);
    const missing: number[] = [];
    await Promise.all(
      ids.map((i) =>
        log.record(record(i))?.then(() => {
          if (stored(`dur-${i}`) !== 1) missing.push(i);
        }),
      ),
    );
    expect(missing).toEqual([]);
    expect(transactions() - before).toBeLessThanOrEqual(Math.ceil(1000 / 256));
    await log.close();
  });
});

describe("sync durability: what a caller is told when a decision cannot be stored", () => {
  const failing: DecisionSink = {
    write: async () => {
      throw new Error("disk I/O error");
    },
    close: async () => {},
  };

  it("UNAVAILABLE (DECISION_LOG_UNAVAILABLE) when the database and the spill file both fail, never a hang", async () => {
    const brokenSpill: SpillStore = {
      hasPending: () => false,
      append: async () => {
        throw new Error("read-only file system");
      },
      next: async () => undefined,
      close: async () => {},
    };
    const log = new DecisionLog(failing, {
      durability: "sync",
      maxFailures: 2,
      retryBackoffMs: 1,
      spill: brokenSpill,
    });
    const waits = [log.record(record(1)), log.record(record(2))];
    for (const w of waits) expect(await reasonOf(w)).toBe("DECISION_LOG_UNAVAILABLE");
    expect(log.stats()).toMatchObject({ lost: 2, written: 0, spilled: 0 });
    await log.close();
  });

  it("a decision appended to the spill file (fsync'd) counts as stored: answered then, not before", async () => {
    const appended: string[] = [];
    const spill: SpillStore = {
      hasPending: () => false,
      append: async (batches) => {
        for (const b of batches) appended.push(...b.records.map((r) => r.id));
      },
      next: async () => undefined,
      close: async () => {},
    };
    const log = new DecisionLog(failing, { durability: "sync", maxFailures: 1, spill });
    await log.record(record(7));
    expect(appended).toEqual(["dur-7"]);
    expect(log.stats()).toMatchObject({ spilled: 1, lost: 0, spilling: true });
    await log.close();
  });

  it("a decision made as the log closes is refused, not answered unrecorded", async () => {
    const log = new DecisionLog(failing, { durability: "sync" });
    await log.close();
    expect(await reasonOf(log.record(record(1)))).toBe("DECISION_LOG_UNAVAILABLE");
  });

  it("a decision over its org's quota is answered at once: it is counted in the overflow summary, not stored", async () => {
    const tmp = tempDir();
    const store = openStore(tmp.dir);
    try {
      const log = new DecisionLog(directSink(store.decisions), { durability: "sync", orgQuotaBytes: 300 });
      await log.record(record(1, "noisy"));
      await log.record(record(2, "noisy"));
      // The budget is spent: the next ones are only counted.
      expect(log.record(record(3, "noisy"))).toBeUndefined();
      expect(log.stats().summarised).toBe(1);
      await log.close();
      expect(store.decisions.overflow("noisy")).toMatchObject([{ dropped: 1, allowed: 1 }]);
    } finally {
      void store.close();
      tmp.cleanup();
    }
  });

  it("a decision log that is off ignores durability", () => {
    const tmp = tempDir();
    const store = openStore(tmp.dir);
    try {
      const settings = { decisionLog: false, decisionLogDurability: "sync" } as const;
      expect(openDecisionLog(store, settings, () => {})).toBeUndefined();
    } finally {
      void store.close();
      tmp.cleanup();
    }
  });
});

describe("async durability: the loss window (fake timers)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A sink whose writes each wait until released. */
  function heldSink() {
    const releases: (() => void)[] = [];
    const written: string[][] = [];
    const sink: DecisionSink = {
      write: (batch) =>
        new Promise<void>((resolve) =>
          releases.push(() => {
            written.push(batch.records.map((r) => r.id));
            resolve();
          }),
        ),
      close: async () => {},
    };
    const release = async () => {
      releases.shift()?.();
      await vi.advanceTimersByTimeAsync(0);
    };
    return { sink, written, release, pending: () => releases.length };
  }

  it("a decision's write starts within the flush interval", async () => {
    vi.useFakeTimers();
    const h = heldSink();
    const log = new DecisionLog(h.sink, { flushIntervalMs: 10 });
    expect(log.record(record(1))).toBeUndefined();
    await vi.advanceTimersByTimeAsync(9);
    expect(h.pending()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.pending()).toBe(1);
    await h.release();
    await log.close();
  });

  it("once the oldest unstored decision is 100 ms old, callers wait for their own to be stored", async () => {
    vi.useFakeTimers();
    const h = heldSink();
    const log = new DecisionLog(h.sink, { flushIntervalMs: 10 });
    expect(log.record(record(1))).toBeUndefined();
    await vi.advanceTimersByTimeAsync(10); // the write of 1 starts, and stalls
    await vi.advanceTimersByTimeAsync(89);
    expect(log.record(record(2))).toBeUndefined(); // 99 ms: still answered at once
    await vi.advanceTimersByTimeAsync(1);
    const late = log.record(record(3)); // 100 ms: the loss window is full
    expect(late).toBeInstanceOf(Promise);
    let answered = false;
    void late?.then(() => {
      answered = true;
    });
    await h.release(); // 1 is stored; 3 is not yet: its caller still waits
    expect(h.written).toEqual([["dur-1"]]);
    expect(answered).toBe(false);
    // Callers wait on it: the next write starts at once, not after the interval.
    expect(h.pending()).toBe(1);
    await h.release();
    expect(h.written).toEqual([["dur-1"], ["dur-2", "dur-3"]]);
    expect(answered).toBe(true);
    // Caught up: answered at once again.
    expect(log.record(record(4))).toBeUndefined();
    await vi.advanceTimersByTimeAsync(10);
    await h.release();
    await log.close();
  });
});
