import {
  type FailureState,
  type LockPolicy,
  passwordSet,
  toRow,
  type UserDbRow,
  type UserRow,
  userCreated,
  userDeleted,
} from "../users.js";
import { recordAudit } from "./changes.js";
import type { PgDb, Sql } from "./pg-db.js";

/** Users on PostgreSQL (see the SQLite UserRepository). */
export class PgUserRepository {
  constructor(private readonly db: PgDb) {}

  /** Inserts a user; returns false when the org already has a user of that name. */
  insert(u: UserRow): Promise<boolean> {
    return this.db.tx(async (sql) => {
      const inserted = await sql.query(
        `INSERT INTO users (id, org_id, username, password_hash, role, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id, username) DO NOTHING RETURNING id`,
        [u.id, u.orgId, u.username, u.passwordHash, u.role, u.createdAt],
      );
      if (inserted.length !== 1) return false;
      await recordAudit(sql, userCreated(u));
      return true;
    });
  }

  async get(orgId: string, id: string): Promise<UserRow | undefined> {
    const row = await this.db.one<UserDbRow>("SELECT * FROM users WHERE org_id = $1 AND id = $2", [
      orgId,
      id,
    ]);
    return row && toRow(row);
  }

  async byUsername(orgId: string, username: string): Promise<UserRow | undefined> {
    const row = await this.db.one<UserDbRow>("SELECT * FROM users WHERE org_id = $1 AND username = $2", [
      orgId,
      username,
    ]);
    return row && toRow(row);
  }

  async list(orgId: string): Promise<UserRow[]> {
    const rows = await this.db.query<UserDbRow>(
      "SELECT * FROM users WHERE org_id = $1 ORDER BY created_at, id",
      [orgId],
    );
    return rows.map(toRow);
  }

  /**
   * Sets the hash and forgets the user's login failures and known-good sources, in one
   * transaction; false when there is no such user. The UPDATE's row lock orders it with a
   * concurrent delete.
   */
  setPassword(orgId: string, id: string, hash: string): Promise<boolean> {
    return this.db.tx(async (sql) => {
      const row = await sql.one<{ username: string }>(
        "UPDATE users SET password_hash = $1 WHERE org_id = $2 AND id = $3 RETURNING username",
        [hash, orgId, id],
      );
      if (!row) return false;
      await recordAudit(sql, passwordSet(orgId, id));
      await sql.query("DELETE FROM login_failures WHERE org_id = $1 AND username = $2", [
        orgId,
        row.username,
      ]);
      await sql.query("DELETE FROM login_known_sources WHERE user_id = $1", [id]);
      return true;
    });
  }

  /** True while `hash` is still the user's password hash (no reset since it was read). */
  async hashIs(orgId: string, id: string, hash: string): Promise<boolean> {
    const row = await this.db.one(
      "SELECT 1 AS one FROM users WHERE org_id = $1 AND id = $2 AND password_hash = $3",
      [orgId, id, hash],
    );
    return row !== undefined;
  }

  /** True when the org exists. */
  async orgExists(orgId: string): Promise<boolean> {
    return (await this.db.one("SELECT 1 AS one FROM orgs WHERE id = $1", [orgId])) !== undefined;
  }

  /** Replaces the hash only while it is still `previous` (a conditional UPDATE: never undoes a reset). */
  async upgradeHash(orgId: string, id: string, previous: string, next: string): Promise<boolean> {
    const rows = await this.db.query(
      "UPDATE users SET password_hash = $1 WHERE org_id = $2 AND id = $3 AND password_hash = $4 RETURNING id",
      [next, orgId, id, previous],
    );
    return rows.length === 1;
  }

  /** Deletes a user; returns false when there was none (the DELETE's RETURNING is the audit's "before"). */
  delete(orgId: string, id: string): Promise<boolean> {
    return this.db.tx(async (sql) => {
      const before = await sql.one<UserDbRow>("DELETE FROM users WHERE org_id = $1 AND id = $2 RETURNING *", [
        orgId,
        id,
      ]);
      if (!before) return false;
      await recordAudit(sql, userDeleted(toRow(before)));
      return true;
    });
  }
}

export async function failureState(
  sql: Sql,
  orgId: string,
  username: string,
): Promise<FailureState | undefined> {
  const row = await sql.one<{ failures: number; locked_until: number }>(
    "SELECT failures, locked_until FROM login_failures WHERE org_id = $1 AND username = $2",
    [orgId, username],
  );
  return row && { failures: row.failures, lockedUntil: row.locked_until };
}

/**
 * One more failure of an (org, username), counted by the statement itself (an upsert adding
 * one to what is stored), so failures recorded at once by two replicas are both counted.
 */
export async function chargeFailure(
  sql: Sql,
  orgId: string,
  username: string,
  now: number,
  policy: LockPolicy,
): Promise<number> {
  const row = await sql.one<{ failures: number }>(
    `INSERT INTO login_failures AS f (org_id, username, failures, locked_until, last_failure_at)
     VALUES ($1, $2, 1, CASE WHEN 1 >= $4::bigint THEN $3::bigint + $5::bigint ELSE 0 END, $3)
     ON CONFLICT (org_id, username) DO UPDATE SET
       failures = f.failures + 1,
       locked_until = CASE WHEN f.failures + 1 >= $4::bigint THEN $3::bigint + $5::bigint ELSE 0 END,
       last_failure_at = $3
     RETURNING failures`,
    [orgId, username, now, policy.maxFailures, policy.lockSeconds],
  );
  return row?.failures ?? 0;
}

export async function clearFailures(sql: Sql, orgId: string, username: string): Promise<void> {
  await sql.query("DELETE FROM login_failures WHERE org_id = $1 AND username = $2", [orgId, username]);
}

export async function pruneFailures(sql: Sql, now: number, before: number): Promise<void> {
  await sql.query("DELETE FROM login_failures WHERE locked_until <= $1 AND last_failure_at < $2", [
    now,
    before,
  ]);
}

/** Failed logins per (org, username) on PostgreSQL (see the SQLite LoginFailureRepository). */
export class PgLoginFailureRepository {
  constructor(private readonly db: PgDb) {}

  get(orgId: string, username: string): Promise<FailureState | undefined> {
    return failureState(this.db, orgId, username);
  }

  /** Counts one more failure and returns the new count (exact under concurrent charges). */
  charge(orgId: string, username: string, now: number, policy: LockPolicy): Promise<number> {
    return chargeFailure(this.db, orgId, username, now, policy);
  }

  clear(orgId: string, username: string): Promise<void> {
    return clearFailures(this.db, orgId, username);
  }

  prune(now: number, before: number): Promise<void> {
    return pruneFailures(this.db, now, before);
  }
}
