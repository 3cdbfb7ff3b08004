import { ChangeLog } from "./changes.js";
import type { Db } from "./db.js";

export type RevocationKind = "jti" | "family";

/** Revoked access tokens (by jti) and sessions (by refresh family), kept until the tokens would expire. */
export class RevocationRepository {
  private readonly changes: ChangeLog;

  constructor(private readonly db: Db) {
    this.changes = new ChangeLog(db);
  }

  /** Records a revocation and its change, in one transaction (idempotent). */
  revoke(kind: RevocationKind, value: string, expiresAt: number): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO revocations (kind, value, expires_at) VALUES (?, ?, ?)
           ON CONFLICT (kind, value) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`,
        )
        .run(kind, value, expiresAt);
      this.changes.record("token_revoked", null, `${kind}:${value}`);
    })();
  }

  /** Every revocation still in force. */
  live(nowSec: number): { kind: RevocationKind; value: string; expiresAt: number }[] {
    return this.db
      .prepare<[number], { kind: RevocationKind; value: string; expires_at: number }>(
        "SELECT kind, value, expires_at FROM revocations WHERE expires_at > ?",
      )
      .all(nowSec)
      .map((r) => ({ kind: r.kind, value: r.value, expiresAt: r.expires_at }));
  }

  get(kind: RevocationKind, value: string): number | undefined {
    return this.db
      .prepare<[string, string], { expires_at: number }>(
        "SELECT expires_at FROM revocations WHERE kind = ? AND value = ?",
      )
      .get(kind, value)?.expires_at;
  }

  prune(nowSec: number): void {
    this.db.prepare("DELETE FROM revocations WHERE expires_at <= ?").run(nowSec);
  }
}
