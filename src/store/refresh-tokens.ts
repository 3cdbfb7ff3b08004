import type { Db } from "./db.js";

export interface RefreshTokenRow {
  readonly id: string;
  readonly familyId: string;
  readonly orgId: string;
  readonly subjectKind: "agent" | "user";
  readonly subjectId: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** When the session (the family's first token) began: its absolute lifetime counts from here. */
  readonly startedAt: number;
  /** What started the session ('secret', 'password', 'key:<thumbprint>'); undefined for older sessions. */
  readonly credential?: string | undefined;
  readonly usedAt?: number | undefined;
  readonly revokedAt?: number | undefined;
}

/** A refresh_tokens row as both backends return it (the digest aside). */
export interface RefreshTokenDbRow {
  id: string;
  family_id: string;
  org_id: string;
  subject_kind: "agent" | "user";
  subject_id: string;
  issued_at: number;
  expires_at: number;
  started_at: number;
  credential: string | null;
  used_at: number | null;
  revoked_at: number | null;
}

export const toRefreshTokenRow = (r: RefreshTokenDbRow): RefreshTokenRow => ({
  id: r.id,
  familyId: r.family_id,
  orgId: r.org_id,
  subjectKind: r.subject_kind,
  subjectId: r.subject_id,
  issuedAt: r.issued_at,
  expiresAt: r.expires_at,
  startedAt: r.started_at,
  credential: r.credential ?? undefined,
  usedAt: r.used_at ?? undefined,
  revokedAt: r.revoked_at ?? undefined,
});

/** The insert's parameters, in column order (shared by both backends). */
export function refreshTokenValues(r: RefreshTokenRow, digest: Buffer): unknown[] {
  return [
    r.id,
    r.familyId,
    digest,
    r.orgId,
    r.subjectKind,
    r.subjectId,
    r.issuedAt,
    r.expiresAt,
    r.startedAt,
    r.credential ?? null,
  ];
}

/** Rotating refresh tokens, stored as digests, grouped in families (one per login). */
export class RefreshTokenRepository {
  constructor(private readonly db: Db) {}

  /**
   * Inserts a token. A session whose credential must still be current is re-checked by the
   * caller after this (and discarded if the check fails): a password reset or secret rotation
   * commits before it looks for sessions to end, so a racing login is refused or ended.
   */
  insert(r: RefreshTokenRow, digest: Buffer): void {
    this.db
      .prepare(
        `INSERT INTO refresh_tokens (id, family_id, digest, org_id, subject_kind, subject_id, issued_at,
           expires_at, started_at, credential)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(...refreshTokenValues(r, digest));
  }

  /** Deletes a token that was never handed out (its session was refused once stored). */
  discard(id: string): void {
    this.db.prepare("DELETE FROM refresh_tokens WHERE id = ?").run(id);
  }

  byDigest(digest: Buffer): RefreshTokenRow | undefined {
    const row = this.db
      .prepare<[Buffer], RefreshTokenDbRow>("SELECT * FROM refresh_tokens WHERE digest = ?")
      .get(digest);
    return row && toRefreshTokenRow(row);
  }

  /**
   * Marks a token used. True for exactly one caller: the UPDATE is the arbiter between two
   * concurrent refreshes, in this process or another.
   */
  claim(id: string, now: number): boolean {
    return (
      this.db
        .prepare(
          "UPDATE refresh_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL",
        )
        .run(now, id).changes === 1
    );
  }

  /** Revokes every token of a family; returns the latest expiry among them. */
  revokeFamily(familyId: string, now: number): number {
    this.db
      .prepare("UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL")
      .run(now, familyId);
    return (
      this.db
        .prepare<[string], { exp: number | null }>(
          "SELECT max(expires_at) AS exp FROM refresh_tokens WHERE family_id = ?",
        )
        .get(familyId)?.exp ?? now
    );
  }

  /**
   * Families of a subject still live. With `credential`, only those that credential started,
   * plus those from before credentials were recorded (they cannot be told apart).
   */
  familiesOf(subjectId: string, credential?: string): string[] {
    const live = "SELECT DISTINCT family_id FROM refresh_tokens WHERE subject_id = ? AND revoked_at IS NULL";
    const rows =
      credential === undefined
        ? this.db.prepare<[string], { family_id: string }>(live).all(subjectId)
        : this.db
            .prepare<[string, string], { family_id: string }>(
              `${live} AND (credential = ? OR credential IS NULL)`,
            )
            .all(subjectId, credential);
    return rows.map((r) => r.family_id);
  }
}
