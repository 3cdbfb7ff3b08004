import type { Db } from "./db.js";

export interface RefreshTokenRow {
  readonly id: string;
  readonly familyId: string;
  readonly orgId: string;
  readonly subjectKind: "agent" | "user";
  readonly subjectId: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly usedAt?: number | undefined;
  readonly revokedAt?: number | undefined;
}

interface DbRow {
  id: string;
  family_id: string;
  org_id: string;
  subject_kind: "agent" | "user";
  subject_id: string;
  issued_at: number;
  expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
}

const toRow = (r: DbRow): RefreshTokenRow => ({
  id: r.id,
  familyId: r.family_id,
  orgId: r.org_id,
  subjectKind: r.subject_kind,
  subjectId: r.subject_id,
  issuedAt: r.issued_at,
  expiresAt: r.expires_at,
  usedAt: r.used_at ?? undefined,
  revokedAt: r.revoked_at ?? undefined,
});

/** Rotating refresh tokens, stored as digests, grouped in families (one per login). */
export class RefreshTokenRepository {
  constructor(private readonly db: Db) {}

  insert(r: RefreshTokenRow, digest: Buffer): void {
    this.db
      .prepare(
        `INSERT INTO refresh_tokens (id, family_id, digest, org_id, subject_kind, subject_id, issued_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(r.id, r.familyId, digest, r.orgId, r.subjectKind, r.subjectId, r.issuedAt, r.expiresAt);
  }

  byDigest(digest: Buffer): RefreshTokenRow | undefined {
    const row = this.db.prepare<[Buffer], DbRow>("SELECT * FROM refresh_tokens WHERE digest = ?").get(digest);
    return row && toRow(row);
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

  /** Families of a subject still live (to end every session of a deleted user). */
  familiesOf(subjectId: string): string[] {
    return this.db
      .prepare<[string], { family_id: string }>(
        "SELECT DISTINCT family_id FROM refresh_tokens WHERE subject_id = ? AND revoked_at IS NULL",
      )
      .all(subjectId)
      .map((r) => r.family_id);
  }
}
