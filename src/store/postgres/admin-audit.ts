import {
  AUDIT_COLUMNS,
  type AuditChange,
  type AuditDbRow,
  type AuditFilter,
  type AuditRecord,
  auditRecordOf,
} from "../admin-audit.js";
import { recordAudit } from "./changes.js";
import type { PgDb } from "./pg-db.js";

/**
 * The admin audit trail on PostgreSQL (see the SQLite AdminAuditLog). The repositories write
 * their records with `recordAudit` inside their own transactions; this reads them.
 */
export class PgAdminAuditLog {
  constructor(
    private readonly db: PgDb,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** Records one change on its own (a single INSERT: its own transaction). */
  async record(c: AuditChange): Promise<void> {
    await recordAudit(this.db, c, this.nowMs());
  }

  /** One page of the org's records, keyset-paginated on seq (the order they were written in). */
  async query(f: AuditFilter): Promise<AuditRecord[]> {
    const where = ["org_id = $1"];
    const args: (string | number)[] = [f.orgId];
    const add = (column: string, op: string, v: string | number | undefined) => {
      if (v === undefined || v === "") return;
      args.push(v);
      where.push(`${column} ${op} $${args.length}`);
    };
    add("at_ms", ">=", f.fromMs);
    add("at_ms", "<", f.toMs);
    add("actor", "=", f.actor);
    add("action", "=", f.action);
    add("target_kind", "=", f.targetKind);
    add("target_id", "=", f.targetId);
    add("request_id", "=", f.requestId);
    add("seq", f.newestFirst ? "<" : ">", f.afterSeq);
    args.push(f.limit);
    const rows = await this.db.query<AuditDbRow>(
      `SELECT seq, ${AUDIT_COLUMNS} FROM admin_audit WHERE ${where.join(" AND ")}
       ORDER BY seq ${f.newestFirst ? "DESC" : "ASC"} LIMIT $${args.length}`,
      args,
    );
    return rows.map(auditRecordOf);
  }
}
