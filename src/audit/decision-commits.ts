import { TesseraError } from "../domain/errors.js";

/** What a caller waiting on a decision that was not stored gets: UNAVAILABLE, never an answer. */
export function decisionNotStored(why: "lost" | "closed"): TesseraError {
  return new TesseraError(
    "DECISION_LOG_UNAVAILABLE",
    why === "closed"
      ? "the decision log is closed: the server is stopping"
      : "the decision could not be stored (database and spill file both failed)",
    { cause: why },
  );
}

/** Callers waiting for the decisions numbered [start, end) to be stored: one promise for them all. */
interface Group {
  readonly start: number;
  end: number;
  failed: boolean;
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/**
 * Decisions are numbered as they are queued and are stored (written, spilled or lost) in that
 * order, so "stored up to n" says everything. Callers who must not be answered before their
 * decision is stored join the open group: one promise per group, not per decision. The group
 * closes when the queue is cut for a write, so decisions arriving while that write runs go into
 * the next one (group commit).
 */
export class StoredWaits {
  /** Oldest first; the last may still be open. */
  private readonly groups: Group[] = [];
  private open: Group | undefined;
  /** Every decision numbered below this is stored (or lost). */
  private stored = 0;

  /** A promise that settles once decision `n` is stored: resolved, or rejected if it was lost. */
  join(n: number): Promise<void> {
    let g = this.open;
    if (!g) {
      let resolve: () => void = () => {};
      let reject: (err: Error) => void = () => {};
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      g = { start: n, end: n + 1, failed: false, promise, resolve, reject };
      this.open = g;
      this.groups.push(g);
    }
    g.end = n + 1;
    return g.promise;
  }

  /** The queue was cut: later decisions wait for a later write. */
  close(): void {
    this.open = undefined;
  }

  get waiting(): boolean {
    return this.groups.length > 0;
  }

  /** Decisions below `end` are stored (or, with `err`, lost: their groups fail). */
  settle(end: number, err?: Error): void {
    if (end <= this.stored) return;
    this.stored = end;
    while (this.groups.length > 0) {
      const g = this.groups[0] as Group;
      if (g.start >= end) break;
      if (err) g.failed = true;
      if (g.end > end) break; // the rest of its decisions are in a later batch
      this.groups.shift();
      if (g === this.open) this.open = undefined;
      if (g.failed) g.reject(err ?? decisionNotStored("lost"));
      else g.resolve();
    }
  }
}
