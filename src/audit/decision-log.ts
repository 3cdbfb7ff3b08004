import type { DecisionRecord, DecisionRepository } from "../store/decisions.js";

export interface DecisionLogOptions {
  /** Flush at least this often. Default 10 ms. */
  readonly flushIntervalMs?: number;
  /** Flush as soon as this many are waiting. Default 256. */
  readonly batchSize?: number;
  /** Above this many waiting, callers wait for a flush instead of adding more (backpressure). Default 20,000. */
  readonly maxPending?: number;
  readonly onError?: (err: unknown) => void;
}

/**
 * The decision log: records are buffered and written in batches on a timer, never on the
 * request's path. Nothing is dropped: when writes fall behind, `record` hands back a promise
 * the caller awaits (so load slows down instead of records being lost), and a failed batch is
 * kept and retried.
 */
export class DecisionLog {
  private pending: DecisionRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private waiters: (() => void)[] = [];
  private readonly interval: number;
  private readonly batchSize: number;
  private readonly maxPending: number;

  constructor(
    private readonly repo: DecisionRepository,
    private readonly opts: DecisionLogOptions = {},
  ) {
    // Small, frequent batches: a write blocks the event loop (~8 µs a record), so each one is
    // kept to a couple of milliseconds rather than letting a large one show up in tail latency.
    this.interval = opts.flushIntervalMs ?? 10;
    this.batchSize = opts.batchSize ?? 256;
    this.maxPending = opts.maxPending ?? 20_000;
  }

  /** Queues a decision; returns a promise to await only when the log is full (backpressure). */
  record(r: DecisionRecord): Promise<void> | undefined {
    this.pending.push(r);
    if (this.pending.length >= this.batchSize) this.schedule(0);
    else this.schedule(this.interval);
    if (this.pending.length < this.maxPending) return undefined;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private schedule(delay: number): void {
    if (this.timer && delay > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), delay);
  }

  /** Writes everything queued so far. */
  flush(): void {
    this.timer = undefined;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    try {
      this.repo.insert(batch);
    } catch (err) {
      // Keep the batch (in order) and try again later: a decision record is never dropped.
      this.pending = batch.concat(this.pending);
      this.opts.onError?.(err);
      this.schedule(this.interval * 10);
      return;
    }
    const ready = this.waiters;
    this.waiters = [];
    for (const w of ready) w();
    if (this.pending.length > 0) this.schedule(0);
  }

  /** Flushes and stops (graceful shutdown). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.flush();
  }

  /** How many records wait to be written. */
  get backlog(): number {
    return this.pending.length;
  }
}
