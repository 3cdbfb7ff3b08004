import type { DecisionRecord, OverflowSummary } from "../store/decisions.js";

/** One org's use of the current window. Reset in place when a new window starts. */
interface OrgWindow {
  start: number;
  bytes: number;
  dropped: number;
  droppedBytes: number;
  allowed: number;
  denied: number;
}

const NONE: readonly OverflowSummary[] = [];

/**
 * A byte budget per org per fixed time window. Within budget, a decision is stored one by
 * one; beyond it, it is only counted, and the count becomes an overflow summary when the
 * window ends. One tenant flooding Authorize therefore cannot fill the disk, and nothing
 * disappears without a trace. Windows follow the records' own times (`atMs`).
 */
export class OrgQuota {
  private readonly windows = new Map<string, OrgWindow>();
  private readonly ended: OverflowSummary[] = [];
  /** Windows with drops not yet summarised. */
  private open = 0;
  /** When the earliest of those ends. */
  private due = Number.POSITIVE_INFINITY;

  /** `budget` 0 (or less) turns the quota off. */
  constructor(
    private readonly budget: number,
    private readonly windowMs: number,
  ) {}

  /** True when the record may be stored individually; false when it was counted instead. */
  admit(r: DecisionRecord, size: number): boolean {
    if (this.budget <= 0) return true;
    const start = r.atMs - (r.atMs % this.windowMs);
    let w = this.windows.get(r.orgId);
    if (w === undefined) {
      w = { start, bytes: 0, dropped: 0, droppedBytes: 0, allowed: 0, denied: 0 };
      this.windows.set(r.orgId, w);
    } else if (start > w.start) {
      this.close(r.orgId, w);
      w.start = start;
    }
    if (w.bytes + size <= this.budget) {
      w.bytes += size;
      return true;
    }
    if (w.dropped === 0) {
      this.open++;
      this.due = Math.min(this.due, w.start + this.windowMs);
    }
    w.dropped++;
    w.droppedBytes += size;
    if (r.allowed) w.allowed++;
    else w.denied++;
    return false;
  }

  /** Ends a window: its drops, if any, become a summary. */
  private close(orgId: string, w: OrgWindow): void {
    if (w.dropped > 0) {
      this.open--;
      this.ended.push({
        orgId,
        windowStartMs: w.start,
        windowEndMs: w.start + this.windowMs,
        dropped: w.dropped,
        allowed: w.allowed,
        denied: w.denied,
        droppedBytes: w.droppedBytes,
      });
    }
    w.bytes = 0;
    w.dropped = 0;
    w.droppedBytes = 0;
    w.allowed = 0;
    w.denied = 0;
  }

  /**
   * The summaries of windows over by `nowMs` (every window with drops when `all`, at close),
   * taken: each is handed out once. Orgs whose window is over are forgotten.
   */
  take(nowMs: number, all = false): readonly OverflowSummary[] {
    if (all || this.due <= nowMs) {
      this.due = Number.POSITIVE_INFINITY;
      for (const [orgId, w] of this.windows) {
        const end = w.start + this.windowMs;
        if (all || end <= nowMs) {
          this.close(orgId, w);
          this.windows.delete(orgId);
        } else if (w.dropped > 0) this.due = Math.min(this.due, end);
      }
    }
    if (this.ended.length === 0) return NONE;
    return this.ended.splice(0);
  }

  /** When the earliest window with drops ends, if any: its summary is due then. */
  nextDue(): number | undefined {
    return this.open > 0 ? this.due : undefined;
  }
}
