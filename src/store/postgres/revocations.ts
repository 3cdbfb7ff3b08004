import type { RevocationKind } from "../revocations.js";
import { recordChange } from "./changes.js";
import type { PgDb, Sql } from "./pg-db.js";

/**
 * Records a revocation and its change inside the caller's transaction (idempotent: a second
 * revocation keeps the later expiry). The upsert is one statement, so two replicas revoking
 * the same token at once both succeed and the row keeps the larger expiry.
 */
export async function revokeIn(
  sql: Sql,
  kind: RevocationKind,
  value: string,
  expiresAt: number,
): Promise<void> {
  await sql.query(
    `INSERT INTO revocations (kind, value, expires_at) VALUES ($1, $2, $3)
     ON CONFLICT (kind, value) DO UPDATE SET expires_at = GREATEST(revocations.expires_at, excluded.expires_at)`,
    [kind, value, expiresAt],
  );
  await recordChange(sql, "token_revoked", null, `${kind}:${value}`);
}

/** RevocationRepository on PostgreSQL: revoked access tokens (by jti) and sessions (by family). */
export class PgRevocationRepository {
  constructor(private readonly db: PgDb) {}

  /** Records a revocation and its change, in one transaction (idempotent). */
  async revoke(kind: RevocationKind, value: string, expiresAt: number): Promise<void> {
    await this.db.tx((sql) => revokeIn(sql, kind, value, expiresAt));
  }

  /** Every revocation still in force. */
  async live(nowSec: number): Promise<{ kind: RevocationKind; value: string; expiresAt: number }[]> {
    const rows = await this.db.query<{ kind: RevocationKind; value: string; expires_at: number }>(
      "SELECT kind, value, expires_at FROM revocations WHERE expires_at > $1",
      [nowSec],
    );
    return rows.map((r) => ({ kind: r.kind, value: r.value, expiresAt: r.expires_at }));
  }

  async get(kind: RevocationKind, value: string): Promise<number | undefined> {
    const row = await this.db.one<{ expires_at: number }>(
      "SELECT expires_at FROM revocations WHERE kind = $1 AND value = $2",
      [kind, value],
    );
    return row?.expires_at;
  }

  async prune(nowSec: number): Promise<void> {
    await this.db.query("DELETE FROM revocations WHERE expires_at <= $1", [nowSec]);
  }
}
