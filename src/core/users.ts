import { setTimeout as delay } from "node:timers/promises";
import {
  DEFAULT_SCRYPT_COST,
  dummyHash,
  hashPassword,
  needsRehash,
  type ScryptCost,
  verifyPassword,
} from "../auth/passwords.js";
import { newId } from "../auth/secrets.js";
import { TesseraError } from "../domain/errors.js";
import type { Tier } from "../domain/tiers.js";
import { epochSeconds } from "../domain/time.js";
import type { Async } from "../store/contract/async.js";
import type { LoginAttemptRepository } from "../store/login-throttle.js";
import type { UserRepository, UserRole, UserRow } from "../store/users.js";
import { type Attempt, LoginGuard, type LoginLimits } from "./login-guard.js";
import { type LoginOrigin, sourceKey } from "./login-source.js";
import type { SessionEnder, SessionStart } from "./sessions.js";

/** A user as the admin plane shows it (never the password hash). */
export interface UserRecord {
  readonly id: string;
  readonly orgId: string;
  readonly username: string;
  readonly role: "viewer" | "operator" | "admin";
  /** Seconds since the epoch. */
  readonly createdAt: number;
}

/** Who a successful login proves, ready to become a session. */
export interface LoggedInUser {
  readonly user: UserRecord;
  /** Users carry a fixed tier so policies can treat them like other principals. */
  readonly tier: Tier;
  /** How a session for this login begins: refused if the password changed meanwhile. */
  readonly start: SessionStart;
}

export interface UserDeps {
  readonly users: Async<UserRepository>;
  /** The login guard's counts and known-good sources. */
  readonly attempts: Async<LoginAttemptRepository>;
  readonly now: () => Date;
  /** Ends a user's sessions when the password is reset. */
  readonly sessions: SessionEnder;
  /** Login limits; tests pass smaller ones. Default: DEFAULT_LOGIN_LIMITS. */
  readonly limits?: LoginLimits | undefined;
  /** scrypt parameters for new hashes; tests pass cheap ones. Default: DEFAULT_SCRYPT_COST. */
  readonly scryptCost?: ScryptCost | undefined;
  /** How a failed login waits before answering; tests record the delays instead. */
  readonly sleep?: (ms: number) => Promise<void>;
}

const ROLES: readonly string[] = ["viewer", "operator", "admin"] satisfies UserRole[];
const isRole = (r: string): r is UserRole => ROLES.includes(r);
// Checked before lower-casing: toLowerCase maps some non-ASCII letters (the Kelvin sign) to ASCII.
const USERNAME = /^[A-Za-z0-9._@-]{1,64}$/;
// A bound on what is looked up as an org id; any other string is no org, and never counted.
const ORG_ID = /^[A-Za-z0-9_-]{1,64}$/;
// Expired login rows are swept at most this often (by the injected clock).
const SWEEP_EVERY_SECONDS = 60;

function checkPassword(password: string): void {
  const length = [...password].length; // code points, so an emoji counts once
  if (length < 12 || length > 1024) {
    throw new TesseraError("PASSWORD_WEAK", "password must be 12 to 1024 characters");
  }
}

function toRecord(r: UserRow): UserRecord {
  return { id: r.id, orgId: r.orgId, username: r.username, role: r.role, createdAt: r.createdAt };
}

/**
 * Users (human operators): username + password (scrypt), role viewer/operator/admin.
 * Repeated wrong passwords slow down, then lock the (org, username) for a while, whether or
 * not the user exists, except from sources the user has logged in from (LoginGuard); no
 * answer reveals whether a username exists. A password reset ends the user's sessions.
 */
export class UserService {
  private readonly users: Async<UserRepository>;
  private readonly guard: LoginGuard;
  private lastSweep = 0;
  private readonly cost: ScryptCost;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Checked when the username is unknown, so that costs the same scrypt run as a wrong password. */
  private readonly dummy: string;

  constructor(private readonly d: UserDeps) {
    this.users = d.users;
    this.guard = new LoginGuard(d.attempts, d.limits);
    this.cost = d.scryptCost ?? DEFAULT_SCRYPT_COST;
    this.sleep = d.sleep ?? ((ms) => delay(ms));
    this.dummy = dummyHash(this.cost);
  }

  /** Creates a user; USERNAME_INVALID, PASSWORD_WEAK, ROLE_INVALID or USERNAME_TAKEN otherwise. */
  async create(orgId: string, u: { username: string; password: string; role: string }): Promise<UserRecord> {
    if (!USERNAME.test(u.username)) {
      throw new TesseraError("USERNAME_INVALID", "username must be 1 to 64 of a-z 0-9 . _ @ -");
    }
    checkPassword(u.password);
    if (!isRole(u.role)) throw new TesseraError("ROLE_INVALID", "role must be viewer, operator or admin");
    const username = u.username.toLowerCase();
    const taken = () => new TesseraError("USERNAME_TAKEN", "the org already has a user of that name");
    // Checked before hashing too, so a duplicate costs no scrypt run; the insert settles races.
    if (await this.users.byUsername(orgId, username)) throw taken();
    const row: UserRow = {
      id: newId("usr"),
      orgId,
      username,
      passwordHash: await hashPassword(u.password, this.cost),
      role: u.role,
      createdAt: epochSeconds(this.d.now()),
    };
    if (!(await this.users.insert(row))) throw taken();
    return toRecord(row);
  }

  /** The org's users, oldest first. */
  async list(orgId: string): Promise<UserRecord[]> {
    return (await this.users.list(orgId)).map(toRecord);
  }

  /** The user, or undefined when the org has no such user. */
  async get(orgId: string, userId: string): Promise<UserRecord | undefined> {
    const row = await this.users.get(orgId, userId);
    return row && toRecord(row);
  }

  /** The org's user of that username (any case), or undefined. */
  async byUsername(orgId: string, username: string): Promise<UserRecord | undefined> {
    if (!USERNAME.test(username)) return undefined;
    const row = await this.users.byUsername(orgId, username.toLowerCase());
    return row && toRecord(row);
  }

  /**
   * Sets a new password, forgetting past login failures and known-good sources (one
   * transaction), then ends the user's sessions; PASSWORD_WEAK or USER_NOT_FOUND otherwise.
   */
  async setPassword(orgId: string, userId: string, password: string): Promise<void> {
    checkPassword(password);
    if (!(await this.users.get(orgId, userId))) throw notFound();
    const hash = await hashPassword(password, this.cost);
    if (!(await this.users.setPassword(orgId, userId, hash))) throw notFound(); // deleted while we hashed
    // A session stolen before the reset must not outlive it. Ended once the new hash has
    // committed: a login racing the reset either stored its session before (ended here) or
    // re-checks its hash after (refused).
    await this.d.sessions.endAllFor(userId);
  }

  /** Deletes the user; USER_NOT_FOUND when the org has no such user. */
  async delete(orgId: string, userId: string): Promise<void> {
    if (!(await this.users.delete(orgId, userId))) throw notFound();
  }

  /**
   * Checks a password; throws LOGIN_FAILED or ACCOUNT_LOCKED (UNAUTHENTICATED), or
   * LOGIN_RATE_LIMITED (RESOURCE_EXHAUSTED) for a source that failed too often.
   */
  async login(
    orgId: string,
    username: string,
    password: string,
    origin: LoginOrigin = {},
  ): Promise<LoggedInUser> {
    const now = epochSeconds(this.d.now());
    await this.sweep(now);
    const { attempt, user } = await this.attempt(orgId, username, origin, now);
    const admitted = await this.guard.admit(attempt);
    // An unknown org or user costs the same scrypt run as a wrong password.
    const ok = await verifyPassword(password, user?.passwordHash ?? this.dummy);
    if (!user || !ok) {
      await this.sleep(await this.guard.failed(attempt, admitted));
      throw new TesseraError("LOGIN_FAILED", "wrong username or password");
    }
    await this.guard.succeeded(attempt, admitted);
    const hash = await this.upgradeHash(user, password);
    const recheck = async () => {
      if (!(await this.users.hashIs(orgId, user.id, hash)))
        throw new TesseraError("LOGIN_FAILED", "wrong username or password");
    };
    return { user: toRecord(user), tier: "verified", start: { credential: "password", recheck } };
  }

  /**
   * What the guard counts: only an org that exists and a well-formed name, so junk cannot
   * fill the tables (a malformed name can never be a user).
   */
  private async attempt(
    orgId: string,
    username: string,
    origin: LoginOrigin,
    now: number,
  ): Promise<{ attempt: Attempt; user: UserRow | undefined }> {
    const org = ORG_ID.test(orgId) && (await this.users.orgExists(orgId)) ? orgId : undefined;
    const name = org && USERNAME.test(username) ? username.toLowerCase() : undefined;
    const user = org && name ? await this.users.byUsername(org, name) : undefined;
    const attempt = { now, source: sourceKey(origin), orgId: org, username: name, userId: user?.id };
    return { attempt, user };
  }

  private async sweep(now: number): Promise<void> {
    if (now - this.lastSweep < SWEEP_EVERY_SECONDS) return;
    this.lastSweep = now;
    await this.guard.prune(now);
  }

  /** Re-hashes with the current parameters when the stored ones are older; returns the hash in place. */
  private async upgradeHash(user: UserRow, password: string): Promise<string> {
    if (!needsRehash(user.passwordHash, this.cost)) return user.passwordHash;
    const next = await hashPassword(password, this.cost);
    return (await this.users.upgradeHash(user.orgId, user.id, user.passwordHash, next))
      ? next
      : user.passwordHash;
  }
}

function notFound(): TesseraError {
  return new TesseraError("USER_NOT_FOUND", "no such user");
}
