import type { DecisionBatch, DecisionRecord } from "../store/decisions.js";
import { decisionNotStored, StoredWaits } from "./decision-commits.js";
import { type DecisionLogOptions, type DecisionLogStats, resolveOptions } from "./decision-log-options.js";
import { DecisionQueue } from "./decision-queue.js";
import type { DecisionSink } from "./decision-sink.js";
import { within } from "./within.js";

export type { DecisionLogOptions, DecisionLogStats } from "./decision-log-options.js";

/**
 * The decision log: records are buffered and written in batches on a timer, never on the
 * request's path (with a thread sink, not even on the event loop). When writes fall behind,
 * `record` hands back a promise the caller awaits (so load slows down instead of records being
 * lost), and a failed batch is retried, in order, with backoff.
 *
 * Every failure is finite. Records, batches and segments are bounded in bytes; after
 * `maxFailures` failed writes in a row the log *spills*: pending batches go to a file in the
 * data directory, every waiting caller is released, and the file is moved into the database
 * later, in order (batch ids make that idempotent). While spilling, `onSpilling` listeners hear
 * it (the server reports NOT_SERVING). close() is bounded by `closeTimeoutMs`.
 *
 * Durability (what a process crash may lose). `async`: a decision's write starts within
 * `flushIntervalMs` of it (right after the write in progress, if one runs longer), and once the
 * oldest unstored decision is `lossWindowMs` old, new callers wait until their own decision is
 * stored. So the decisions answered but not stored always fall within `lossWindowMs` (100 ms) of
 * one another: normally the last 100 ms before a crash. `sync`: every caller waits until its
 * decision is stored (committed, or appended to the spill file and fsync'd); decisions arriving
 * while a write runs go into the next one (group commit). A decision that is lost instead fails
 * its callers with DECISION_LOG_UNAVAILABLE. Decisions over their org's quota are never
 * waited on: they are counted, not stored (see OrgQuota).
 */
export class DecisionLog {
  private readonly queue: DecisionQueue;
  /** A batch cut but not stored yet: being written, or waiting for its retry. */
  private held: DecisionBatch | undefined;
  private writing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerDelay = 0;
  private drainTimer: NodeJS.Timeout | undefined;
  private waiters: (() => void)[] = [];
  private failures = 0;
  private spilling = false;
  private blocking = true;
  private closed = false;
  private readonly listeners = new Set<(spilling: boolean) => void>();
  private readonly o: ReturnType<typeof resolveOptions>;
  private readonly counts = { written: 0, spilled: 0, lost: 0 };
  /** Told of each batch stored in the database: its records and the seconds the write took. */
  private written: ((records: number, seconds: number) => void) | undefined;
  /** Decisions queued so far, and cut into batches so far: a batch holds those in [end - its length, end). */
  private queued = 0;
  private cutEnd = 0;
  private readonly batchEnds = new WeakMap<DecisionBatch, number>();
  /** Batches cut and not yet stored, oldest first: the last decision each holds, and since when the oldest has waited. */
  private readonly unstored: { end: number; since: number }[] = [];
  /** When the oldest decision still in the queue was queued (clock()). */
  private queuedSince: number | undefined;
  private readonly stored = new StoredWaits();

  constructor(
    private readonly sink: DecisionSink,
    opts: DecisionLogOptions = {},
  ) {
    this.o = resolveOptions(opts);
    this.queue = new DecisionQueue(this.o);
    // Batches spilled by an earlier process go into the database before anything new.
    if (this.o.spill?.hasPending()) {
      this.spilling = true;
      this.armDrain(0);
    }
  }

  /**
   * Queues a decision. Returns a promise the caller must await before answering: with `sync`
   * always (it settles once the decision is stored, or rejects with DECISION_LOG_UNAVAILABLE);
   * with `async` only when the log lags (its own decision is stored) or is full (backpressure).
   */
  record(r: DecisionRecord): Promise<void> | undefined {
    if (this.closed) {
      this.counts.lost++;
      return this.o.durability === "sync" ? Promise.reject(decisionNotStored("closed")) : undefined;
    }
    if (!this.queue.add(r)) {
      // Over its org's quota: counted, not stored, so there is nothing to wait for.
      this.armSummary();
      return undefined;
    }
    const now = this.o.clock();
    this.queuedSince ??= now;
    const n = this.queued++;
    if (this.o.durability === "sync") {
      this.schedule(0);
      return this.stored.join(n);
    }
    this.schedule(this.queue.full() ? 0 : this.o.flushIntervalMs);
    if (!this.blocking) return undefined;
    if (now - this.oldestUnstored() >= this.o.lossWindowMs) {
      // The loss window is full: this caller waits for its own decision, written at once.
      this.schedule(0);
      return this.stored.join(n);
    }
    if (this.backlog < this.o.maxPending && this.queue.bytes < this.o.maxPendingBytes) return undefined;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** When the oldest decision not yet stored was queued (clock()); the queue holds at least one. */
  private oldestUnstored(): number {
    return this.unstored[0]?.since ?? this.queuedSince ?? this.o.clock();
  }

  private schedule(delay: number): void {
    // A timer already due as soon (or sooner) stands: re-arming one per record costs the hot path.
    if (this.closed || this.writing || (this.timer && delay >= this.timerDelay)) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDelay = delay;
    this.timer = setTimeout(() => {
      // Forgotten before flushing: a flush that finds a write in progress leaves the next timer to afterOp.
      this.timer = undefined;
      void this.flush();
    }, delay);
    this.timer.unref();
  }

  /** Makes sure an overflow summary is written when its window ends, even if the org goes quiet. */
  private armSummary(): void {
    const due = this.queue.summaryDue();
    if (due !== undefined) this.schedule(Math.max(0, due - this.o.now()));
  }

  /** Writes the next batch: the one awaiting a retry, else what is queued (to the spill file while spilling). */
  flush(): Promise<void> {
    if (this.writing) return this.writing;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.held ?? this.cut();
    if (!batch) {
      // A summary timer that fired a moment early: try again when it is due.
      this.armSummary();
      return Promise.resolve();
    }
    this.held = batch;
    return this.run(() => (this.spilling ? this.toSpill([batch]) : this.toSink(batch)));
  }

  /** Runs one write-side operation at a time; operations never reject. */
  private run(op: () => Promise<void>): Promise<void> {
    this.writing = op().finally(() => {
      this.writing = undefined;
      this.afterOp();
    });
    return this.writing;
  }

  private afterOp(): void {
    if (this.closed) return;
    if (this.held) this.schedule(this.o.retryBackoffMs * 2 ** (this.failures - 1));
    else if (this.queue.length > 0) this.schedule(this.nextFlushDelay());
    this.armSummary();
  }

  /**
   * After a write, the next one: at once when callers wait on it (sync, or a lagging async log:
   * group commit) or a batch is full, else when the oldest queued decision has waited
   * flushIntervalMs (counted from when it was queued, not from the end of the last write).
   */
  private nextFlushDelay(): number {
    if (this.o.durability === "sync" || this.stored.waiting || this.queue.full()) return 0;
    const since = this.queuedSince ?? this.o.clock();
    return Math.max(0, since + this.o.flushIntervalMs - this.o.clock());
  }

  /** The next batch from the queue, numbered: decisions queued from now on wait for a later write. */
  private cut(): DecisionBatch | undefined {
    const batch = this.queue.cut();
    if (!batch) return undefined;
    this.stored.close();
    this.cutEnd += batch.records.length;
    this.batchEnds.set(batch, this.cutEnd);
    if (batch.records.length > 0)
      this.unstored.push({ end: this.cutEnd, since: this.queuedSince ?? this.o.clock() });
    // What a partial cut leaves keeps this time: it overstates their age, so waits start early, never late.
    if (this.queue.length === 0) this.queuedSince = undefined;
    return batch;
  }

  private cutAll(): DecisionBatch[] {
    const out: DecisionBatch[] = [];
    for (let b = this.cut(); b; b = this.cut()) out.push(b);
    return out;
  }

  /** These batches are stored (or, with `err`, lost): their callers hear it. Batches are stored in order. */
  private settle(batches: readonly DecisionBatch[], err?: Error): void {
    let end = -1;
    for (const b of batches) end = Math.max(end, this.batchEnds.get(b) ?? -1);
    if (end < 0) return; // batches of an earlier process, moved in from a spill file
    while ((this.unstored[0]?.end ?? Number.POSITIVE_INFINITY) <= end) this.unstored.shift();
    this.stored.settle(end, err);
  }

  /** Stores one batch in the database; false (reported) when it failed or timed out. */
  private async tryWrite(batch: DecisionBatch, timeoutMs: number): Promise<boolean> {
    try {
      const start = performance.now();
      await within(this.sink.write(batch), timeoutMs, "a decision log write");
      this.counts.written += batch.records.length;
      this.written?.(batch.records.length, (performance.now() - start) / 1000);
      this.settle([batch]);
      return true;
    } catch (err) {
      this.o.onError(err);
      return false;
    }
  }

  private async toSink(batch: DecisionBatch): Promise<void> {
    if (await this.tryWrite(batch, this.o.writeTimeoutMs)) {
      if (this.held === batch) this.held = undefined;
      this.failures = 0;
      this.release();
      // Below the limit a failed batch stays held and is retried after a backoff (afterOp).
    } else if (++this.failures >= this.o.maxFailures) await this.startSpilling();
  }

  private async startSpilling(): Promise<void> {
    this.setSpilling(true);
    const batches = [...(this.held ? [this.held] : []), ...this.cutAll()];
    await this.toSpill(batches);
    this.armDrain(this.o.spillRetryMs);
  }

  /** Appends to the spill file; releases waiters whatever happens (a failed spill is counted as lost). */
  private async toSpill(batches: readonly DecisionBatch[], timeoutMs = this.o.spillTimeoutMs): Promise<void> {
    const n = batches.reduce((sum, b) => sum + b.records.length, 0);
    try {
      if (!this.o.spill) throw new Error("no spill file configured");
      await within(this.o.spill.append(batches), timeoutMs, "a decision spill write");
      this.counts.spilled += n;
      // Appended and fsync'd: as durable as a commit.
      this.settle(batches);
    } catch (err) {
      this.counts.lost += n;
      this.o.onError(err);
      this.settle(batches, decisionNotStored("lost"));
    }
    if (this.held && batches.includes(this.held)) this.held = undefined;
    this.release();
  }

  private armDrain(delay: number): void {
    if (this.closed || this.drainTimer) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = undefined;
      void this.drain();
    }, delay);
    this.drainTimer.unref();
  }

  /** Moves the next part of the spill into the database; leaves spilling once it is all in. */
  private drain(): Promise<void> {
    if (this.closed || !this.spilling) return Promise.resolve();
    if (this.writing) return this.writing.then(() => this.drain());
    return this.run(async () => {
      try {
        const chunk = await this.o.spill?.next(this.o.maxBatchBytes);
        if (!chunk) {
          this.failures = 0;
          this.setSpilling(false);
          return;
        }
        for (const b of chunk.batches) {
          if (!(await this.tryWrite(b, this.o.writeTimeoutMs))) return this.armDrain(this.o.spillRetryMs);
        }
        // Batches stored before a failure are stored again next time: their ids make that a no-op.
        chunk.commit();
        this.armDrain(0);
      } catch (err) {
        this.o.onError(err);
        this.armDrain(this.o.spillRetryMs);
      }
    });
  }

  private setSpilling(on: boolean): void {
    if (this.spilling === on) return;
    this.spilling = on;
    for (const l of this.listeners) l(on);
  }

  private release(): void {
    const ready = this.waiters;
    this.waiters = [];
    for (const w of ready) w();
  }

  /** Calls `listener` now and whenever the log starts or stops spilling; returns an unsubscribe. */
  onSpilling(listener: (spilling: boolean) => void): () => void {
    this.listeners.add(listener);
    listener(this.spilling);
    return () => this.listeners.delete(listener);
  }

  /** Stops making callers wait and releases those waiting (the server is draining: no new calls come). */
  stopBackpressure(): void {
    this.blocking = false;
    this.release();
  }

  /**
   * Stores everything queued, or spills what the database does not take in time, then stops
   * the sink; returns within about closeTimeoutMs whatever the sink or the disk do.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.stopBackpressure();
    this.closed = true;
    for (const t of [this.timer, this.drainTimer]) if (t) clearTimeout(t);
    // The database gets half the time; the spill file is kept the other half for what it did not take.
    const start = this.o.now();
    const left = (share: number) => Math.max(1, start + this.o.closeTimeoutMs * share - this.o.now());
    // An operation that does not end in time is abandoned: its batch is still held, and goes below.
    if (this.writing) await within(this.writing, left(0.5), "a decision log write").catch(() => {});
    this.queue.endWindows();
    let rest = [...(this.held ? [this.held] : []), ...this.cutAll()];
    this.held = undefined;
    // While spilling, the file keeps the order: everything goes after what is in it.
    while (!this.spilling && rest.length > 0 && (await this.tryWrite(rest[0] as DecisionBatch, left(0.5))))
      rest = rest.slice(1);
    if (rest.length > 0) await this.toSpill(rest, left(0.9));
    await within(
      Promise.all([this.sink.close(), this.o.spill?.close()]),
      left(1),
      "closing the decision log",
    ).catch(this.o.onError);
  }

  /** Tells `listener` of every batch stored in the database (metrics: batches and write latency). */
  onWritten(listener: (records: number, seconds: number) => void): void {
    this.written = listener;
  }

  /** How many records are not yet stored or spilled. */
  get backlog(): number {
    return this.queue.length + (this.held?.records.length ?? 0);
  }

  stats(): DecisionLogStats {
    const { truncated, summarised } = this.queue;
    return { ...this.counts, truncated, summarised, spilling: this.spilling };
  }
}
