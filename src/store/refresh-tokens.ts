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

interface DbRow {
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

const toRow = (r: DbRow): RefreshTokenRow => ({
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

/** Rotating refresh tokens, stored as digests, grouped in families (one per login). */
export class RefreshTokenRepository {
  constructor(private readonly db: Db) {}

  /**
   * Inserts a token. `check` runs first in the same IMMEDIATE transaction and may throw to
   * refuse: a new session is stored only if its credential is still current, so a login that
   * raced a password reset or secret rotation cannot outlive it.
   */
  insert(r: RefreshTokenRow, digest: Buffer, check?: () => void): void {
    const run = this.db.transaction(() => {
      check?.();
      this.db
        .prepare(
          `INSERT INTO refresh_tokens (id, family_id, digest, org_id, subject_kind, subject_id, issued_at,
             expires_at, started_at, credential)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
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
        );
    });
    run.immediate();
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
