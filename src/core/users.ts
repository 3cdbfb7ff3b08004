import type { Tier } from "../domain/tiers.js";
import type { Db } from "../store/db.js";

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
}

export interface UserDeps {
  readonly db: Db;
  readonly now: () => Date;
}

/**
 * Users (human operators): username + password (scrypt), role viewer/operator/admin.
 * Repeated wrong passwords slow down, then lock the (org, username) for a while, whether or
 * not the user exists; no answer reveals whether a username exists.
 */
export class UserService {
  constructor(private readonly d: UserDeps) {}

  async create(
    _orgId: string,
    _u: { username: string; password: string; role: string },
  ): Promise<UserRecord> {
    throw notYet();
  }

  list(_orgId: string): UserRecord[] {
    throw notYet();
  }

  get(_orgId: string, _userId: string): UserRecord | undefined {
    throw notYet();
  }

  async setPassword(_orgId: string, _userId: string, _password: string): Promise<void> {
    throw notYet();
  }

  delete(_orgId: string, _userId: string): void {
    throw notYet();
  }

  /** Checks a password; throws LOGIN_FAILED or ACCOUNT_LOCKED (UNAUTHENTICATED) otherwise. */
  async login(_orgId: string, _username: string, _password: string): Promise<LoggedInUser> {
    throw notYet();
  }
}

import { TesseraError } from "../domain/errors.js";

function notYet(): TesseraError {
  return new TesseraError("NOT_IMPLEMENTED", "users are not implemented yet");
}
