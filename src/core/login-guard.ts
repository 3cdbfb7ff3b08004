import { TesseraError } from "../domain/errors.js";
import type { Async } from "../store/contract/async.js";
import type {
  AttemptLimits,
  LoginAttempt,
  LoginAttemptRepository,
  WindowLimit,
} from "../store/login-throttle.js";
import type { LockPolicy } from "../store/users.js";

/** Limits on password logins. Every count lives in the database, so every worker agrees. */
export interface LoginLimits {
  /** Failures of one (org, username) that lock it, for sources it has not logged in from. */
  readonly user: LockPolicy;
  /** Failures from one source that refuse it for a while, whatever it tries. */
  readonly source: WindowLimit;
  /** Failures across one org in a window past which its failures answer progressively slower. */
  readonly org: { readonly windowSeconds: number; readonly slowAfter: number };
  /** How long a source a user logged in from stays known-good for that user. */
  readonly knownSourceSeconds: number;
  /** An unlocked (org, username) forgets its failures this long after the last one. */
  readonly forgetFailuresSeconds: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = {
  user: { maxFailures: 5, lockSeconds: 15 * 60 },
  source: { maxFailures: 20, windowSeconds: 15 * 60, lockSeconds: 15 * 60 },
  org: { windowSeconds: 15 * 60, slowAfter: 25 },
  knownSourceSeconds: 30 * 86400,
  forgetFailuresSeconds: 3600,
};

/** One login attempt, as the guard counts it. */
export type Attempt = LoginAttempt;

/** What the guard let through, and what it counted up front. */
export interface Admission {
  /** The username is locked, but this source is known-good for the user. */
  readonly trusted: boolean;
  readonly userFailures: number;
  readonly orgFailures: number;
}

/** The wait after the n-th consecutive failure of a username: 0, 0, 250 ms, 500 ms, 1 s, then 2 s. */
function userDelayMs(failures: number): number {
  return failures < 3 ? 0 : Math.min(2000, 250 * 2 ** (failures - 3));
}

/** The wait for an org under a spray: 250 ms past `slowAfter` failures, doubling each further `slowAfter`, up to 4 s. */
function orgDelayMs(failures: number, slowAfter: number): number {
  if (failures <= slowAfter) return 0;
  return Math.min(4000, 250 * 2 ** Math.floor((failures - slowAfter - 1) / slowAfter));
}

/**
 * Password-login limits against guessing, spraying and lockout abuse: per (org, username)
 * (a lock that spares the user's known-good sources), per source (refused for a while) and
 * per org (slower answers, never a lockout).
 */
export class LoginGuard {
  private readonly attemptLimits: AttemptLimits;

  constructor(
    private readonly attempts: Async<LoginAttemptRepository>,
    private readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
  ) {
    const org = {
      maxFailures: Number.MAX_SAFE_INTEGER,
      windowSeconds: limits.org.windowSeconds,
      lockSeconds: 0,
    };
    this.attemptLimits = {
      user: limits.user,
      source: limits.source,
      org,
      knownSourceSeconds: limits.knownSourceSeconds,
    };
  }

  /**
   * Admits an attempt or refuses it (LOGIN_RATE_LIMITED for a locked source, ACCOUNT_LOCKED
   * for a locked username from a source not known-good), writing nothing when it refuses.
   * An admitted attempt is counted as a failure up front (a success gives it back), in one
   * transaction, so parallel guesses cannot all pass before any of them fails.
   */
  async admit(a: Attempt): Promise<Admission> {
    const r = await this.attempts.admit(a, this.attemptLimits);
    if (r.refused !== undefined) return refuse(r.lockedUntil, a.now, r.refused);
    return { trusted: r.trusted, userFailures: r.userFailures, orgFailures: r.orgFailures };
  }

  /** After a right password: gives back what was counted and remembers the source as known-good. */
  async succeeded(a: Attempt, admitted: Admission): Promise<void> {
    // A known-good source getting in leaves the lock on: the other sources stay locked out.
    await this.attempts.succeeded(a, admitted.trusted, this.attemptLimits);
  }

  /** After a wrong password: counts what was not counted up front. Returns how long to wait before answering. */
  async failed(a: Attempt, admitted: Admission): Promise<number> {
    if (admitted.trusted && a.orgId && a.username)
      await this.attempts.chargeUser(a.orgId, a.username, a.now, this.limits.user);
    return Math.max(
      userDelayMs(admitted.userFailures),
      orgDelayMs(admitted.orgFailures, this.limits.org.slowAfter),
    );
  }

  /** Deletes rows that no longer lock or count anything, so the tables stay bounded. */
  async prune(now: number): Promise<void> {
    await this.attempts.prune(now, {
      failuresBefore: now - this.limits.forgetFailuresSeconds,
      sourceBefore: now - this.limits.source.windowSeconds,
      orgBefore: now - this.limits.org.windowSeconds,
      knownBefore: now - this.limits.knownSourceSeconds,
    });
  }
}

function refuse(lockedUntil: number, now: number, what: "source" | "user"): never {
  const details = { retry_after_seconds: String(lockedUntil - now) };
  if (what === "source")
    throw new TesseraError(
      "LOGIN_RATE_LIMITED",
      "too many failed logins from here; try again later",
      details,
    );
  throw new TesseraError("ACCOUNT_LOCKED", "too many failed logins; try again later", details);
}
