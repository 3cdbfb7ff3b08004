import type { OperatorTokenRow, OrgSummaryRow, RawToken } from "../operators.js";
import { token } from "../operators.js";
import type { PgDb } from "./pg-db.js";

/** What the server operator owns in the store, on PostgreSQL (see the SQLite OperatorRepository). */
export class PgOperatorRepository {
  constructor(private readonly db: PgDb) {}

  async insertToken(t: OperatorTokenRow): Promise<void> {
    await this.db.query(
      "INSERT INTO operator_tokens (id, name, digest, prefix, created_at) VALUES ($1, $2, $3, $4, $5)",
      [t.id, t.name, t.digest, t.prefix, t.createdAt],
    );
  }

  /** The unrevoked token with this digest, if any. */
  async findToken(digest: Buffer): Promise<OperatorTokenRow | undefined> {
    const row = await this.db.one<RawToken>(
      "SELECT * FROM operator_tokens WHERE digest = $1 AND revoked_at IS NULL",
      [digest],
    );
    return row && token(row);
  }

  /** Every token, revoked ones included, oldest first. */
  async tokens(): Promise<OperatorTokenRow[]> {
    const rows = await this.db.query<RawToken>(
      `SELECT * FROM operator_tokens ORDER BY created_at, id COLLATE "C"`,
    );
    return rows.map(token);
  }

  /** Revokes a live token now; false when there is none with this id. */
  async revokeToken(id: string, now: number): Promise<boolean> {
    const done = await this.db.one(
      "UPDATE operator_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING id",
      [now, id],
    );
    return done !== undefined;
  }

  /**
   * Records `action` by `actor` at `now` and returns undefined, unless `max` of them already
   * happened in the last `windowSeconds`: then it writes nothing and returns the second from
   * which the next one may be made. A transaction-scoped advisory lock on the action makes the
   * count and the insert one step for every replica (SQLite's BEGIN IMMEDIATE).
   */
  async spend(
    action: string,
    actor: string,
    now: number,
    windowSeconds: number,
    max: number,
  ): Promise<number | undefined> {
    return this.db.tx(async (sql) => {
      await sql.query("SELECT pg_advisory_xact_lock(hashtext('tessera.operator_actions'), hashtext($1))", [
        action,
      ]);
      const recent = await sql.query<{ at: number }>(
        "SELECT at FROM operator_actions WHERE action = $1 AND at > $2 ORDER BY at",
        [action, now - windowSeconds],
      );
      if (recent.length >= max) return (recent[0]?.at ?? now) + windowSeconds;
      await sql.query("INSERT INTO operator_actions (action, actor, at) VALUES ($1, $2, $3)", [
        action,
        actor,
        now,
      ]);
      return undefined;
    });
  }

  /** Every org, oldest first. */
  async orgs(): Promise<OrgSummaryRow[]> {
    const rows = await this.db.query<{
      id: string;
      name: string;
      policy_revision: number;
      created_at: number;
    }>(`SELECT id, name, policy_revision, created_at FROM orgs ORDER BY created_at, id COLLATE "C"`);
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      policyRevision: r.policy_revision,
      createdAt: r.created_at,
    }));
  }
}
