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

/**
 * The decision log table, on a connection of its own with `synchronous = NORMAL`: in WAL mode
 * a batch survives a process crash, and the log does not pay an fsync per batch the way the
 * admin writes (FULL) do.
 */
export class DecisionRepository {
  private readonly insertOne;
  private readonly insertMany;

  constructor(private readonly db: Db) {
    this.insertOne = db.prepare(
      `INSERT INTO decision_log (id, org_id, at_ms, subject_id, scope, resource_kind, resource_id, allowed, reason, rule, revision)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertMany = db.transaction((rows: readonly DecisionRecord[]) => {
      for (const r of rows) {
        this.insertOne.run(
          r.id,
          r.orgId,
          r.atMs,
          r.subjectId,
          r.scope,
          r.resourceKind,
          r.resourceId,
          r.allowed ? 1 : 0,
          r.reason,
          r.rule,
          r.revision,
        );
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
        "SELECT * FROM decision_log WHERE org_id = ? ORDER BY at_ms DESC, seq DESC LIMIT ?",
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
    return this.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM decision_log").get()?.n ?? 0;
  }
}
