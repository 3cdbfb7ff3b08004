import type { DecisionRecord } from "../store/decisions.js";
import type { DecisionSink } from "./decision-sink.js";

export interface DecisionLogOptions {
  /** Flush at least this often. Default 10 ms. */
  readonly flushIntervalMs?: number;
  /** Flush as soon as this many are waiting. Default 256. */
  readonly batchSize?: number;
  /** Above this many unwritten, callers wait for a write instead of adding more (backpressure). Default 20,000. */
  readonly maxPending?: number;
  readonly onError?: (err: unknown) => void;
}

/**
 * The decision log: records are buffered and written in batches on a timer, never on the
 * request's path (with a thread sink, not even on the event loop). Nothing is dropped: when
 * writes fall behind, `record` hands back a promise the caller awaits (so load slows down
 * instead of records being lost), and a failed batch is kept and retried, in order.
 */
export class DecisionLog {
  private pending: DecisionRecord[] = [];
  private inFlight: readonly DecisionRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerDelay = 0;
  private writing: Promise<void> | undefined;
  private waiters: (() => void)[] = [];
  private readonly interval: number;
  private readonly batchSize: number;
  private readonly maxPending: number;

  constructor(
    private readonly sink: DecisionSink,
    private readonly opts: DecisionLogOptions = {},
  ) {
    this.interval = opts.flushIntervalMs ?? 10;
    this.batchSize = opts.batchSize ?? 256;
    this.maxPending = opts.maxPending ?? 20_000;
  }

  /** Queues a decision; returns a promise to await only when the log is full (backpressure). */
  record(r: DecisionRecord): Promise<void> | undefined {
    this.pending.push(r);
    this.schedule(this.pending.length >= this.batchSize ? 0 : this.interval);
    if (this.backlog < this.maxPending) return undefined;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private schedule(delay: number): void {
    // A timer already due as soon (or sooner) stands: re-arming one per record costs the hot path.
    if (this.writing || (this.timer && delay >= this.timerDelay)) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDelay = delay;
    this.timer = setTimeout(() => void this.flush(), delay);
  }

  /** Writes everything queued so far (one batch at a time, in order). */
  flush(): Promise<void> {
    if (this.writing) return this.writing;
    this.timer = undefined;
    if (this.pending.length === 0) return Promise.resolve();
    const batch = this.pending;
    this.pending = [];
    this.inFlight = batch;
    this.writing = this.sink.write(batch).then(
      () => {
        this.inFlight = [];
        this.writing = undefined;
        const ready = this.waiters;
        this.waiters = [];
        for (const w of ready) w();
        // What arrived during the write waits for a full batch or the interval, like any other
        // record: flushing at once would send many tiny batches under load.
        if (this.pending.length > 0) this.schedule(this.pending.length >= this.batchSize ? 0 : this.interval);
      },
      (err: unknown) => {
        // Keep the batch, ahead of newer records, and try again later: nothing is dropped.
        this.pending = batch.concat(this.pending);
        this.inFlight = [];
        this.writing = undefined;
        this.opts.onError?.(err);
        this.schedule(this.interval * 10);
      },
    );
    return this.writing;
  }

  /** Flushes everything and stops the sink (graceful shutdown). */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (let attempts = 0; (this.pending.length > 0 || this.writing) && attempts < 100; attempts++) {
      await (this.writing ?? this.flush());
    }
    await this.sink.close();
  }

  /** How many records are not yet written. */
  get backlog(): number {
    return this.pending.length + this.inFlight.length;
  }
}
