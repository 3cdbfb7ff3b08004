import { AdminAuditLog, type AuditChange } from "./admin-audit.js";
import type { Db } from "./db.js";

export type UserRole = "viewer" | "operator" | "admin";

/** A user row, including its password hash: never hand this to the admin plane as is. */
export interface UserRow {
  readonly id: string;
  readonly orgId: string;
  readonly username: string;
  readonly passwordHash: string;
  readonly role: UserRole;
  /** Seconds since the epoch. */
  readonly createdAt: number;
}

/** A users row as both backends return it. */
export interface UserDbRow {
  id: string;
  org_id: string;
  username: string;
  password_hash: string;
  role: UserRole;
  created_at: number;
}

export function toRow(r: UserDbRow): UserRow {
  return {
    id: r.id,
    orgId: r.org_id,
    username: r.username,
    passwordHash: r.password_hash,
    role: r.role,
    createdAt: r.created_at,
  };
}

/** The audit record of a created user (shared by both backends). */
export function userCreated(u: UserRow): AuditChange {
  return {
    orgId: u.orgId,
    action: "user.create",
    targetKind: "user",
    targetId: u.id,
    after: { username: u.username, role: u.role },
  };
}

/** The audit record of a password set by an admin (shared by both backends). */
export function passwordSet(orgId: string, id: string): AuditChange {
  return { orgId, action: "user.set_password", targetKind: "user", targetId: id };
}

/** The audit record of a deleted user (shared by both backends). */
export function userDeleted(before: UserRow): AuditChange {
  return {
    orgId: before.orgId,
    action: "user.delete",
    targetKind: "user",
    targetId: before.id,
    before: { username: before.username, role: before.role },
  };
}

/** Users, always looked up within one org: nothing crosses orgs. */
export class UserRepository {
  private readonly audit: AdminAuditLog;

  constructor(private readonly db: Db) {
    this.audit = new AdminAuditLog(db);
  }

  /** Inserts a user; returns false when the org already has a user of that name. */
  insert(u: UserRow): boolean {
    return this.db.transaction(() => {
      const info = this.db
        .prepare(
          `INSERT INTO users (id, org_id, username, password_hash, role, created_at)
           VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (org_id, username) DO NOTHING`,
        )
        .run(u.id, u.orgId, u.username, u.passwordHash, u.role, u.createdAt);
      if (info.changes !== 1) return false;
      this.audit.record(userCreated(u));
      return true;
    })();
  }

  get(orgId: string, id: string): UserRow | undefined {
    const row = this.db
      .prepare<[string, string], UserDbRow>("SELECT * FROM users WHERE org_id = ? AND id = ?")
      .get(orgId, id);
    return row && toRow(row);
  }

  byUsername(orgId: string, username: string): UserRow | undefined {
    const row = this.db
      .prepare<[string, string], UserDbRow>("SELECT * FROM users WHERE org_id = ? AND username = ?")
      .get(orgId, username);
    return row && toRow(row);
  }

  list(orgId: string): UserRow[] {
    return this.db
      .prepare<[string], UserDbRow>("SELECT * FROM users WHERE org_id = ? ORDER BY created_at, id")
      .all(orgId)
      .map(toRow);
  }

  /**
   * Sets a user's password hash and forgets the user's login failures and known-good sources,
   * in one transaction; returns false when there is no such user. Ending the user's sessions
   * is the caller's next step (after this commits, so a login racing it is refused or ended).
   */
  setPassword(orgId: string, id: string, hash: string): boolean {
    const sql = "UPDATE users SET password_hash = ? WHERE org_id = ? AND id = ? RETURNING username";
    return this.db.transaction(() => {
      const row = this.db.prepare<[string, string, string], { username: string }>(sql).get(hash, orgId, id);
      if (!row) return false;
      this.audit.record(passwordSet(orgId, id));
      this.db
        .prepare("DELETE FROM login_failures WHERE org_id = ? AND username = ?")
        .run(orgId, row.username);
      this.db.prepare("DELETE FROM login_known_sources WHERE user_id = ?").run(id);
      return true;
    })();
  }

  /** True while `hash` is still the user's password hash (no reset since it was read). */
  hashIs(orgId: string, id: string, hash: string): boolean {
    const sql = "SELECT 1 AS one FROM users WHERE org_id = ? AND id = ? AND password_hash = ?";
    return this.db.prepare(sql).get(orgId, id, hash) !== undefined;
  }

  /** True when the org exists: logins against any other org id are never counted. */
  orgExists(orgId: string): boolean {
    return this.db.prepare("SELECT 1 AS one FROM orgs WHERE id = ?").get(orgId) !== undefined;
  }

  /** Replaces the hash only while it is still `previous`, so a login's rehash never undoes a reset. */
  upgradeHash(orgId: string, id: string, previous: string, next: string): boolean {
    const sql = "UPDATE users SET password_hash = ? WHERE org_id = ? AND id = ? AND password_hash = ?";
    return this.db.prepare(sql).run(next, orgId, id, previous).changes === 1;
  }

  /** Deletes a user; returns false when there was none. */
  delete(orgId: string, id: string): boolean {
    return this.db.transaction(() => {
      const before = this.get(orgId, id);
      if (!before) return false;
      if (this.db.prepare("DELETE FROM users WHERE org_id = ? AND id = ?").run(orgId, id).changes !== 1)
        return false;
      this.audit.record(userDeleted(before));
      return true;
    })();
  }
}

/** How many failures lock a username, and for how long. */
export interface LockPolicy {
  readonly maxFailures: number;
  readonly lockSeconds: number;
}

/** An (org, username)'s failures so far. */
export interface FailureState {
  readonly failures: number;
  /** Seconds since the epoch; 0 or past when not locked. */
  readonly lockedUntil: number;
}

/**
 * Failed logins per (org, username) of an existing org, whether or not the user exists. The
 * login guard's admission reads and charges them in one transaction (LoginAttemptRepository).
 */
export class LoginFailureRepository {
  constructor(private readonly db: Db) {}

  get(orgId: string, username: string): FailureState | undefined {
    const row = this.db
      .prepare<[string, string], { failures: number; locked_until: number }>(
        "SELECT failures, locked_until FROM login_failures WHERE org_id = ? AND username = ?",
      )
      .get(orgId, username);
    return row && { failures: row.failures, lockedUntil: row.locked_until };
  }

  /**
   * Counts one more failure and returns the new count. Past the threshold every further
   * failure locks again, until a success or a reset.
   */
  charge(orgId: string, username: string, now: number, policy: LockPolicy): number {
    const failures = (this.get(orgId, username)?.failures ?? 0) + 1;
    const lockedUntil = failures >= policy.maxFailures ? now + policy.lockSeconds : 0;
    this.db
      .prepare(
        `INSERT INTO login_failures (org_id, username, failures, locked_until, last_failure_at)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (org_id, username) DO UPDATE SET
         failures = excluded.failures, locked_until = excluded.locked_until,
         last_failure_at = excluded.last_failure_at`,
      )
      .run(orgId, username, failures, lockedUntil, now);
    return failures;
  }

  /** Forgets the failures of an (org, username): after a success or a password reset. */
  clear(orgId: string, username: string): void {
    this.db.prepare("DELETE FROM login_failures WHERE org_id = ? AND username = ?").run(orgId, username);
  }

  /** Deletes rows no longer locked whose last failure is older than `before` (bounds the table). */
  prune(now: number, before: number): void {
    this.db
      .prepare("DELETE FROM login_failures WHERE locked_until <= ? AND last_failure_at < ?")
      .run(now, before);
  }
}
