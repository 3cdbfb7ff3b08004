import type { Db } from "./db.js";

/** An operator token's description (the secret itself is never stored). */
export interface OperatorTokenRow {
  readonly id: string;
  readonly name: string;
  readonly digest: Buffer;
  /** The first characters of the token, to recognise it (tso_AbCd…). */
  readonly prefix: string;
  readonly createdAt: number;
  readonly revokedAt?: number | undefined;
}

/** An org as the operator lists them. */
export interface OrgSummaryRow {
  readonly id: string;
  readonly name: string;
  readonly policyRevision: number;
  readonly createdAt: number;
}

/** An operator_tokens row as both backends read it. */
export interface RawToken {
  id: string;
  name: string;
  digest: Buffer;
  prefix: string;
  created_at: number;
  revoked_at: number | null;
}

export const token = (r: RawToken): OperatorTokenRow => ({
  id: r.id,
  name: r.name,
  digest: r.digest,
  prefix: r.prefix,
  createdAt: r.created_at,
  revokedAt: r.revoked_at ?? undefined,
});

/** What the server operator owns in the store: its tokens, its rate-limited actions, the org list. */
export class OperatorRepository {
  constructor(private readonly db: Db) {}

  insertToken(t: OperatorTokenRow): void {
    this.db
      .prepare("INSERT INTO operator_tokens (id, name, digest, prefix, created_at) VALUES (?, ?, ?, ?, ?)")
      .run(t.id, t.name, t.digest, t.prefix, t.createdAt);
  }

  /** The unrevoked token with this digest, if any. */
  findToken(digest: Buffer): OperatorTokenRow | undefined {
    const row = this.db
      .prepare<[Buffer], RawToken>("SELECT * FROM operator_tokens WHERE digest = ? AND revoked_at IS NULL")
      .get(digest);
    return row && token(row);
  }

  /** Every token, revoked ones included, oldest first. */
  tokens(): OperatorTokenRow[] {
    return this.db
      .prepare<[], RawToken>("SELECT * FROM operator_tokens ORDER BY created_at, id")
      .all()
      .map(token);
  }

  /** Revokes a live token now; false when there is none with this id. */
  revokeToken(id: string, now: number): boolean {
    return (
      this.db
        .prepare("UPDATE operator_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
        .run(now, id).changes === 1
    );
  }

  /**
   * Records `action` by `actor` at `now` and returns undefined, unless `max` of them already
   * happened in the last `windowSeconds`: then it writes nothing and returns the second from
   * which the next one may be made.
   * BEGIN IMMEDIATE makes the count and the insert one step for every process on the database.
   */
  spend(action: string, actor: string, now: number, windowSeconds: number, max: number): number | undefined {
    return this.db
      .transaction(() => {
        const recent = this.db
          .prepare<[string, number], { at: number }>(
            "SELECT at FROM operator_actions WHERE action = ? AND at > ? ORDER BY at",
          )
          .all(action, now - windowSeconds);
        if (recent.length >= max) return (recent[0]?.at ?? now) + windowSeconds;
        this.db
          .prepare("INSERT INTO operator_actions (action, actor, at) VALUES (?, ?, ?)")
          .run(action, actor, now);
        return undefined;
      })
      .immediate();
  }

  /** Every org, oldest first. */
  orgs(): OrgSummaryRow[] {
    return this.db
      .prepare<[], { id: string; name: string; policy_revision: number; created_at: number }>(
        "SELECT id, name, policy_revision, created_at FROM orgs ORDER BY created_at, id",
      )
      .all()
      .map((r) => ({ id: r.id, name: r.name, policyRevision: r.policy_revision, createdAt: r.created_at }));
  }
}
