import { randomUUID } from "node:crypto";
import type { DecisionBatch, DecisionRecord, OverflowSummary } from "../store/decisions.js";
import { boundRecord, recordSize } from "./decision-bounds.js";
import { OrgQuota } from "./decision-quota.js";

export interface QueueBounds {
  readonly batchSize: number;
  readonly maxBatchBytes: number;
  readonly maxRecordBytes: number;
  readonly orgQuotaBytes: number;
  readonly orgQuotaWindowMs: number;
  readonly now: () => number;
}

/**
 * Decisions not yet handed to a writer, cut into batches bounded in bytes. Each record is
 * bounded on the way in, and counted against its org's quota: over it, the record is only
 * counted, and the org's overflow summary rides in a later batch.
 */
export class DecisionQueue {
  private pending: DecisionRecord[] = [];
  private summaries: OverflowSummary[] = [];
  private seq = 0;
  private readonly prefix = randomUUID();
  private readonly quota: OrgQuota;
  /** Approximate bytes queued (recordSize). */
  bytes = 0;
  truncated = 0;
  summarised = 0;

  constructor(private readonly b: QueueBounds) {
    this.quota = new OrgQuota(b.orgQuotaBytes, b.orgQuotaWindowMs);
  }

  /** Queues a record (cut down if too large); false when its org is over quota and it was only counted. */
  add(r: DecisionRecord): boolean {
    let size = recordSize(r);
    if (size > this.b.maxRecordBytes) {
      r = boundRecord(r, this.b.maxRecordBytes);
      size = recordSize(r);
      this.truncated++;
    }
    if (!this.quota.admit(r, size)) {
      this.summarised++;
      return false;
    }
    this.pending.push(r);
    this.bytes += size;
    return true;
  }

  get length(): number {
    return this.pending.length;
  }

  /** Enough for a batch of its own. */
  full(): boolean {
    return this.pending.length >= this.b.batchSize || this.bytes >= this.b.maxBatchBytes;
  }

  /** When the earliest overflow summary falls due (its window ends), if any. */
  summaryDue(): number | undefined {
    return this.quota.nextDue();
  }

  /** Makes every open overflow summary due now (at close). */
  endWindows(): void {
    this.summaries.push(...this.quota.take(this.b.now(), true));
  }

  /** The next batch: at most maxBatchBytes of records (at least one), with the summaries due. */
  cut(): DecisionBatch | undefined {
    const due = this.quota.take(this.b.now());
    if (due.length > 0) this.summaries.push(...due);
    if (this.pending.length === 0 && this.summaries.length === 0) return undefined;
    let n = 0;
    let bytes = 0;
    for (; n < this.pending.length; n++) {
      const size = recordSize(this.pending[n] as DecisionRecord);
      if (n > 0 && bytes + size > this.b.maxBatchBytes) break;
      bytes += size;
    }
    // The common case hands over the whole array (no copy); the log never touches it again.
    const all = n === this.pending.length;
    const records = all ? this.pending : this.pending.slice(0, n);
    this.pending = all ? [] : this.pending.slice(n);
    this.bytes = all ? 0 : this.bytes - bytes;
    const overflow = this.summaries;
    this.summaries = [];
    return { id: `${this.prefix}-${(this.seq++).toString(36)}`, records, overflow };
  }

  /** Everything queued, as batches. */
  cutAll(): DecisionBatch[] {
    const out: DecisionBatch[] = [];
    for (let b = this.cut(); b; b = this.cut()) out.push(b);
    return out;
  }
}
