import type { Db } from "./db.js";

/** One Authorize decision as the log keeps it. */
export interface DecisionRecord {
  readonly id: string;
  readonly orgId: string;
  readonly atMs: number;
  readonly subjectId: string;
  readonly scope: string;
  readonly resourceKind: string;
  readonly resourceId: string;
  readonly allowed: boolean;
  readonly reason: string;
  readonly rule: string;
  readonly revision: number;
}

/** One stored decision, in the order of the segment's JSON arrays (see migration 6). */
function toStored(r: DecisionRecord): unknown[] {
  return [
    r.id,
    r.atMs,
    r.subjectId,
    r.scope,
    r.resourceKind,
    r.resourceId,
    r.allowed ? 1 : 0,
    r.reason,
    r.rule,
    r.revision,
  ];
}

/**
 * The decision log, on a connection of its own with `synchronous = NORMAL`: in WAL mode a
 * batch survives a process crash, and the log does not pay an fsync per batch the way the
 * admin writes (FULL) do. A batch is stored as one segment row per org; the decision_log
 * view reads it back one row per decision.
 */
export class DecisionRepository {
  private readonly insertSegment;
  private readonly insertMany;

  constructor(private readonly db: Db) {
    this.insertSegment = db.prepare<[string, number, number, number, string]>(
      `INSERT INTO decision_segments (org_id, first_at_ms, last_at_ms, count, records)
       VALUES (?, ?, ?, ?, ?)`,
    );
    this.insertMany = db.transaction((rows: readonly DecisionRecord[]) => {
      const byOrg = new Map<string, DecisionRecord[]>();
      for (const r of rows) {
        const list = byOrg.get(r.orgId);
        if (list) list.push(r);
        else byOrg.set(r.orgId, [r]);
      }
      for (const [orgId, list] of byOrg) {
        let first = Number.POSITIVE_INFINITY;
        let last = Number.NEGATIVE_INFINITY;
        for (const r of list) {
          first = Math.min(first, r.atMs);
          last = Math.max(last, r.atMs);
        }
        this.insertSegment.run(orgId, first, last, list.length, JSON.stringify(list.map(toStored)));
      }
    });
  }

  /** Writes a batch in one transaction: all or none. */
  insert(rows: readonly DecisionRecord[]): void {
    this.insertMany(rows);
  }

  /** The org's decisions, newest first. */
  recent(orgId: string, limit: number): DecisionRecord[] {
    return this.db
      .prepare<[string, number], Record<string, string | number>>(
        `SELECT * FROM decision_log WHERE org_id = ?
         ORDER BY at_ms DESC, segment DESC, position DESC LIMIT ?`,
      )
      .all(orgId, limit)
      .map((r) => ({
        id: String(r.id),
        orgId: String(r.org_id),
        atMs: Number(r.at_ms),
        subjectId: String(r.subject_id),
        scope: String(r.scope),
        resourceKind: String(r.resource_kind),
        resourceId: String(r.resource_id),
        allowed: r.allowed === 1,
        reason: String(r.reason),
        rule: String(r.rule),
        revision: Number(r.revision),
      }));
  }

  count(): number {
    return (
      this.db.prepare<[], { n: number | null }>("SELECT sum(count) AS n FROM decision_segments").get()?.n ?? 0
    );
  }
}
