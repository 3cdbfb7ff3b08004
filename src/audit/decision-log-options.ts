import type { SpillStore } from "./decision-spill.js";

/** When a caller may be answered: before its decision is stored (async) or only after (sync). */
export type DecisionLogDurability = "async" | "sync";

/**
 * With `async`, the most a process crash may lose: the decisions answered but not yet stored
 * always fall within this many milliseconds of one another (see DecisionLog).
 */
export const ASYNC_LOSS_WINDOW_MS = 100;

/** Tuning of the decision log; every bound is finite. Sizes are as recordSize measures them. */
export interface DecisionLogOptions {
  /** async (default) or sync; see DecisionLog. */
  readonly durability?: DecisionLogDurability | undefined;
  /** async: once the oldest unstored decision is this old, callers wait for their own to be stored. Default 100 ms. */
  readonly lossWindowMs?: number | undefined;
  /** A decision's write starts at most this long after it is queued (or right after the write in progress). Default 10 ms. */
  readonly flushIntervalMs?: number | undefined;
  /** Flush as soon as this many are waiting. Default 256. */
  readonly batchSize?: number | undefined;
  /** Above this many unwritten, callers wait for a write instead of adding more (backpressure). Default 20,000. */
  readonly maxPending?: number | undefined;
  /** The same, in bytes of queued records. Default 32 MiB. */
  readonly maxPendingBytes?: number | undefined;
  /** Largest batch handed to the sink (a lone larger record still goes, alone). Default 4 MiB. */
  readonly maxBatchBytes?: number | undefined;
  /** A larger record is cut down field by field, with a marker. Default 8 KiB; at least 1 KiB. */
  readonly maxRecordBytes?: number | undefined;
  /** Failed writes in a row before the log spills to the file. Default 3. */
  readonly maxFailures?: number | undefined;
  /** Wait before retrying a failed write; doubles with each failure in a row. Default 100 ms. */
  readonly retryBackoffMs?: number | undefined;
  /** A write not answered in this time counts as failed. Default 10 s. */
  readonly writeTimeoutMs?: number | undefined;
  /** An append to the spill file not done in this time counts as failed (its records as lost). Default 10 s. */
  readonly spillTimeoutMs?: number | undefined;
  /** While spilling, how often to try moving the spill into the database. Default 5 s. */
  readonly spillRetryMs?: number | undefined;
  /** The longest close() takes. Default 5 s. */
  readonly closeTimeoutMs?: number | undefined;
  /** Per org per window: bytes stored one by one; beyond, decisions are only counted. Default 256 MiB; 0 = no quota. */
  readonly orgQuotaBytes?: number | undefined;
  /** The quota window. Default 60 s. */
  readonly orgQuotaWindowMs?: number | undefined;
  /** Where batches go when the database will not take them. Without one they are counted as lost. */
  readonly spill?: SpillStore | undefined;
  /** Milliseconds since the epoch (quota windows, close deadline). Default Date.now. */
  readonly now?: (() => number) | undefined;
  /** A monotonic clock in milliseconds (how long decisions have waited). Default performance.now. */
  readonly clock?: (() => number) | undefined;
  readonly onError?: ((err: unknown) => void) | undefined;
}

/** Every option with its default applied. */
export function resolveOptions(o: DecisionLogOptions) {
  return {
    durability: o.durability ?? "async",
    lossWindowMs: o.lossWindowMs ?? ASYNC_LOSS_WINDOW_MS,
    flushIntervalMs: o.flushIntervalMs ?? 10,
    batchSize: o.batchSize ?? 256,
    maxPending: o.maxPending ?? 20_000,
    maxPendingBytes: o.maxPendingBytes ?? 32 * 1024 * 1024,
    maxBatchBytes: o.maxBatchBytes ?? 4 * 1024 * 1024,
    maxRecordBytes: Math.max(1024, o.maxRecordBytes ?? 8 * 1024),
    maxFailures: Math.max(1, o.maxFailures ?? 3),
    retryBackoffMs: o.retryBackoffMs ?? 100,
    writeTimeoutMs: o.writeTimeoutMs ?? 10_000,
    spillTimeoutMs: o.spillTimeoutMs ?? 10_000,
    spillRetryMs: o.spillRetryMs ?? 5_000,
    closeTimeoutMs: o.closeTimeoutMs ?? 5_000,
    orgQuotaBytes: o.orgQuotaBytes ?? 256 * 1024 * 1024,
    orgQuotaWindowMs: Math.max(1, o.orgQuotaWindowMs ?? 60_000),
    spill: o.spill,
    now: o.now ?? (() => Date.now()),
    // The global, looked up on each call (fake timers replace it in tests).
    clock: o.clock ?? (() => globalThis.performance.now()),
    onError: o.onError ?? (() => {}),
  };
}

/** What the log has done with the decisions it was given, since it started. */
export interface DecisionLogStats {
  /** Stored in the database, one by one. */
  readonly written: number;
  /** Appended to the spill file (moved into the database later). */
  readonly spilled: number;
  /** Counted in an overflow summary instead of stored (org over its quota). */
  readonly summarised: number;
  /** Cut down to the record size bound. */
  readonly truncated: number;
  /** Neither stored nor spilled: the database and the spill file both failed. */
  readonly lost: number;
  readonly spilling: boolean;
}
