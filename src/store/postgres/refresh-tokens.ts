import {
  type RefreshTokenDbRow,
  type RefreshTokenRow,
  refreshTokenValues,
  toRefreshTokenRow,
} from "../refresh-tokens.js";
import type { PgDb } from "./pg-db.js";

/** Rotating refresh tokens on PostgreSQL (see the SQLite RefreshTokenRepository). */
export class PgRefreshTokenRepository {
  constructor(private readonly db: PgDb) {}

  async insert(r: RefreshTokenRow, digest: Buffer): Promise<void> {
    await this.db.query(
      `INSERT INTO refresh_tokens (id, family_id, digest, org_id, subject_kind, subject_id, issued_at,
         expires_at, started_at, credential)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      refreshTokenValues(r, digest),
    );
  }

  /** Deletes a token that was never handed out (its session was refused once stored). */
  async discard(id: string): Promise<void> {
    await this.db.query("DELETE FROM refresh_tokens WHERE id = $1", [id]);
  }

  async byDigest(digest: Buffer): Promise<RefreshTokenRow | undefined> {
    const row = await this.db.one<RefreshTokenDbRow>("SELECT * FROM refresh_tokens WHERE digest = $1", [
      digest,
    ]);
    return row && toRefreshTokenRow(row);
  }

  /**
   * Marks a token used. True for exactly one caller on any replica: the conditional UPDATE
   * row-locks the token, and a second one waits, re-reads it as used, and matches nothing.
   */
  async claim(id: string, now: number): Promise<boolean> {
    const rows = await this.db.query(
      "UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL RETURNING id",
      [now, id],
    );
    return rows.length === 1;
  }

  /** Revokes every token of a family; returns the latest expiry among them. */
  revokeFamily(familyId: string, now: number): Promise<number> {
    return this.db.tx(async (sql) => {
      await sql.query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
        [now, familyId],
      );
      const row = await sql.one<{ exp: number | null }>(
        "SELECT max(expires_at) AS exp FROM refresh_tokens WHERE family_id = $1",
        [familyId],
      );
      return row?.exp ?? now;
    });
  }

  /** Families of a subject still live (with `credential`, those it started and those from before credentials were recorded). */
  async familiesOf(subjectId: string, credential?: string): Promise<string[]> {
    const live = "SELECT DISTINCT family_id FROM refresh_tokens WHERE subject_id = $1 AND revoked_at IS NULL";
    const rows =
      credential === undefined
        ? await this.db.query<{ family_id: string }>(live, [subjectId])
        : await this.db.query<{ family_id: string }>(`${live} AND (credential = $2 OR credential IS NULL)`, [
            subjectId,
            credential,
          ]);
    return rows.map((r) => r.family_id);
  }
}
