import type { Db } from "./db.js";

/** What `pruneExpired` keeps: every row past these bounds is only a cost. */
export interface Retention {
  readonly nowSec: number;
  /** Agent tombstones: the longest token lifetime plus clock tolerance. */
  readonly tombstoneSeconds: number;
  /** Decision segments whose newest record is older than this; 0 keeps them forever. */
  readonly decisionSeconds: number;
}

/** Rows deleted per statement: small, so no delete holds the write lock for long. */
export const PRUNE_BATCH = 500;

export interface PruneTarget {
  readonly table: string;
  /** The column that names a row (default rowid). */
  readonly key?: string;
  /** A WHERE clause with one `?`: the bound computed from the retention. */
  readonly where: string;
  readonly bound: (r: Retention) => number | undefined;
  readonly log?: boolean;
  /**
   * The order batches are taken in (default: the key). An indexed column for big tables: ordered
   * by rowid, SQLite scans the whole table (under the write lock) to find the rows to delete, even
   * when there are none.
   */
  readonly order?: string;
}

/** What pruneExpired deletes, table by table, in this order (the PostgreSQL pruning shares it). */
export const PRUNE_TARGETS: readonly PruneTarget[] = [
  { table: "revocations", where: "expires_at <= ?", bound: (r) => r.nowSec },
  { table: "refresh_tokens", where: "expires_at <= ?", bound: (r) => r.nowSec },
  // Kept a while past expiry for processes whose clocks run behind ours.
  { table: "used_assertions", where: "expires_at < ?", bound: (r) => r.nowSec - 600 },
  { table: "agent_tombstones", where: "deleted_at <= ?", bound: (r) => r.nowSec - r.tombstoneSeconds },
  {
    table: "decision_segments",
    where: "last_at_ms < ?",
    order: "last_at_ms", // decision_segments_time (migration 15)
    bound: (r) => (r.decisionSeconds > 0 ? (r.nowSec - r.decisionSeconds) * 1000 : undefined),
    log: true,
  },
  {
    table: "decision_overflow",
    where: "window_end_ms < ?",
    bound: (r) => (r.decisionSeconds > 0 ? (r.nowSec - r.decisionSeconds) * 1000 : undefined),
    log: true,
  },
  // Batch ids only guard against a batch written twice (a retry, a spill moved in again after a
  // crash): a week covers that, whatever the decisions' own retention.
  {
    table: "decision_batches",
    key: "batch_id",
    where: "written_at_ms < ?",
    order: "written_at_ms", // decision_batches_time (migration 15)
    bound: (r) => (r.nowSec - Math.min(r.decisionSeconds || BATCH_ID_SECONDS, BATCH_ID_SECONDS)) * 1000,
    log: true,
  },
];

const BATCH_ID_SECONDS = 7 * 86400;

/**
 * Deletes what has outlived its use — expired revocations, refresh tokens and assertion ids,
 * tombstones older than any token they could refuse, decisions past their retention — in small
 * batches (oldest first), yielding between them so the process keeps serving. Returns how many
 * rows each table lost.
 */
export async function pruneExpired(
  db: Db,
  logDb: Db,
  retention: Retention,
  pause: () => Promise<void> = () => new Promise((resolve) => setImmediate(resolve)),
): Promise<Record<string, number>> {
  const deleted: Record<string, number> = {};
  for (const t of PRUNE_TARGETS) {
    const bound = t.bound(retention);
    if (bound === undefined) continue;
    const key = t.key ?? "rowid";
    const stmt = (t.log ? logDb : db).prepare(
      `DELETE FROM ${t.table} WHERE ${key} IN
         (SELECT ${key} FROM ${t.table} WHERE ${t.where} ORDER BY ${t.order ?? key} LIMIT ${PRUNE_BATCH})`,
    );
    let total = 0;
    for (;;) {
      const n = stmt.run(bound).changes;
      total += n;
      if (n < PRUNE_BATCH) break;
      await pause();
    }
    deleted[t.table] = total;
  }
  return deleted;
}
