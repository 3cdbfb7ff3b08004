import { AUDIT_COLUMNS, type AuditChange, auditValues } from "../admin-audit.js";
import type { Change, ChangeKind } from "../changes.js";
import type { Sql } from "./pg-db.js";

/** The channel every replica LISTENs on; the payload is only a wake-up, the table is the truth. */
export const CHANGE_CHANNEL = "tessera_changes";

/**
 * Records a change inside the caller's transaction. The sequence number comes from the
 * single-row counter, whose row lock is held until this transaction ends: a later change
 * waits for it, so sequence numbers commit in order and a reader of `seq > n` never passes a
 * change that is still to commit. The NOTIFY is delivered only if the transaction commits.
 */
export async function recordChange(
  sql: Sql,
  kind: ChangeKind,
  orgId: string | null,
  ref: string | null = null,
) {
  // One round trip: count, insert, and queue the notification.
  await sql.query(
    `WITH next AS (UPDATE change_seq SET seq = seq + 1 RETURNING seq),
          added AS (INSERT INTO changes (seq, kind, org_id, ref, at)
                    SELECT seq, $1, $2, $3, $4 FROM next RETURNING seq)
     SELECT pg_notify($5, '') FROM added`,
    [kind, orgId, ref, Math.floor(Date.now() / 1000), CHANGE_CHANNEL],
  );
}

/** Records one admin change inside the caller's transaction (see the SQLite AdminAuditLog). */
export async function recordAudit(sql: Sql, c: AuditChange, atMs: number = Date.now()): Promise<void> {
  await sql.query(
    `INSERT INTO admin_audit (${AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    auditValues(c, atMs),
  );
}

interface ChangeDbRow {
  seq: number;
  kind: ChangeKind;
  org_id: string | null;
  ref: string | null;
}

/** The change log on PostgreSQL: what replicas read after a NOTIFY, or on their own timer. */
export class PgChangeLog {
  constructor(private readonly sql: Sql) {}

  /** Records a change outside any other write (its own transaction). */
  async record(kind: ChangeKind, orgId: string | null, ref: string | null = null): Promise<void> {
    await recordChange(this.sql, kind, orgId, ref);
  }

  /** Changes after `seq`, oldest first (at most 1000 a call). */
  async since(seq: number): Promise<Change[]> {
    const rows = await this.sql.query<ChangeDbRow>(
      "SELECT seq, kind, org_id, ref FROM changes WHERE seq > $1 ORDER BY seq LIMIT 1000",
      [seq],
    );
    return rows.map((r) => ({ seq: r.seq, kind: r.kind, orgId: r.org_id, ref: r.ref }));
  }

  /** The newest committed sequence number (0 when none). */
  async latest(): Promise<number> {
    return (await this.sql.one<{ seq: number }>("SELECT seq FROM change_seq"))?.seq ?? 0;
  }

  /** Drops changes older than `maxAgeSeconds`; every replica has long applied them. */
  async prune(maxAgeSeconds: number): Promise<void> {
    await this.sql.query("DELETE FROM changes WHERE at < $1", [
      Math.floor(Date.now() / 1000) - maxAgeSeconds,
    ]);
  }
}
