import { PRUNE_BATCH, PRUNE_TARGETS, type Retention } from "../pruning.js";
import type { Sql } from "./pg-db.js";

/**
 * pruneExpired on PostgreSQL: the same tables, bounds and batches (store/pruning.ts
 * PRUNE_TARGETS), all in the one database. Each batch is one statement (its own transaction)
 * deleting at most PRUNE_BATCH rows by their physical address; `SKIP LOCKED` lets replicas
 * pruning at once share the work instead of waiting on each other's batches. Returns how many
 * rows each table lost.
 */
export async function prunePgExpired(
  sql: Sql,
  retention: Retention,
  pause: () => Promise<void> = () => new Promise((resolve) => setImmediate(resolve)),
): Promise<Record<string, number>> {
  const deleted: Record<string, number> = {};
  for (const t of PRUNE_TARGETS) {
    const bound = t.bound(retention);
    if (bound === undefined) continue;
    const where = t.where.replace("?", "$1");
    const order = t.order ? `ORDER BY ${t.order}` : "";
    const text = `WITH gone AS (
        DELETE FROM ${t.table} WHERE ctid = ANY(ARRAY(
          SELECT ctid FROM ${t.table} WHERE ${where} ${order} LIMIT ${PRUNE_BATCH} FOR UPDATE SKIP LOCKED))
        RETURNING 1)
      SELECT count(*)::bigint AS n FROM gone`;
    let total = 0;
    for (;;) {
      const n = (await sql.one<{ n: number }>(text, [bound]))?.n ?? 0;
      total += n;
      if (n < PRUNE_BATCH) break;
      await pause();
    }
    deleted[t.table] = total;
  }
  return deleted;
}
