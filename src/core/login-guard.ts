import { TesseraError } from "../domain/errors.js";
import type { Db } from "../store/db.js";
import { KnownSourceRepository, LoginThrottleRepository, type WindowLimit } from "../store/login-throttle.js";
import { type LockPolicy, LoginFailureRepository } from "../store/users.js";

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
export interface Attempt {
  readonly now: number;
  readonly source: string | undefined;
  /** Set only for an org that exists: nothing is counted against any other org id. */
  readonly orgId: string | undefined;
  /** Set only for a well-formed username (lower-cased) of an existing org. */
  readonly username: string | undefined;
  /** The user, when the org has one of that name. */
  readonly userId: string | undefined;
}

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
  private readonly failures: LoginFailureRepository;
  private readonly throttle: LoginThrottleRepository;
  private readonly known: KnownSourceRepository;
  private readonly orgLimit: WindowLimit;

  constructor(
    private readonly db: Db,
    private readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
  ) {
    this.failures = new LoginFailureRepository(db);
    this.throttle = new LoginThrottleRepository(db);
    this.known = new KnownSourceRepository(db);
    this.orgLimit = {
      maxFailures: Number.MAX_SAFE_INTEGER,
      windowSeconds: limits.org.windowSeconds,
      lockSeconds: 0,
    };
  }

  /**
   * Admits an attempt or refuses it (LOGIN_RATE_LIMITED for a locked source, ACCOUNT_LOCKED
   * for a locked username from a source not known-good), writing nothing when it refuses.
   * An admitted attempt is counted as a failure up front (a success gives it back), in one
   * IMMEDIATE transaction, so parallel guesses cannot all pass before any of them fails.
   */
  admit(a: Attempt): Admission {
    const run = this.db.transaction((): Admission => {
      const { source, orgId, username } = a;
      if (source) refuseIfLocked(this.throttle.lockedUntil("source", source), a.now, "source");
      const state = orgId && username ? this.failures.get(orgId, username) : undefined;
      const locked = state !== undefined && state.lockedUntil > a.now;
      const trusted = locked && this.isKnown(a);
      if (locked && !trusted) refuseIfLocked(state.lockedUntil, a.now, "user");
      if (source) this.throttle.charge("source", source, a.now, this.limits.source);
      const userFailures =
        orgId && username && !trusted
          ? this.failures.charge(orgId, username, a.now, this.limits.user)
          : (state?.failures ?? 0) + 1;
      const orgFailures = orgId ? this.throttle.charge("org", orgId, a.now, this.orgLimit) : 0;
      return { trusted, userFailures, orgFailures };
    });
    return run.immediate();
  }

  private isKnown(a: Attempt): boolean {
    if (!a.userId || !a.source) return false;
    return this.known.isKnown(a.userId, a.source, a.now - this.limits.knownSourceSeconds);
  }

  /** After a right password: gives back what was counted and remembers the source as known-good. */
  succeeded(a: Attempt, admitted: Admission): void {
    this.db.transaction(() => {
      if (a.source) this.throttle.refund("source", a.source, this.limits.source.maxFailures);
      if (a.orgId) this.throttle.refund("org", a.orgId, this.orgLimit.maxFailures);
      // A known-good source getting in leaves the lock on: the other sources stay locked out.
      if (a.orgId && a.username && !admitted.trusted) this.failures.clear(a.orgId, a.username);
      if (a.userId && a.source) this.known.remember(a.userId, a.source, a.now);
    })();
  }

  /** After a wrong password: counts what was not counted up front. Returns how long to wait before answering. */
  failed(a: Attempt, admitted: Admission): number {
    if (admitted.trusted && a.orgId && a.username)
      this.failures.charge(a.orgId, a.username, a.now, this.limits.user);
    return Math.max(
      userDelayMs(admitted.userFailures),
      orgDelayMs(admitted.orgFailures, this.limits.org.slowAfter),
    );
  }

  /** Forgets a user's failures and known-good sources (a password reset); call in its transaction. */
  reset(orgId: string, username: string, userId: string): void {
    this.failures.clear(orgId, username);
    this.known.forget(userId);
  }

  /** Deletes rows that no longer lock or count anything, so the tables stay bounded. */
  prune(now: number): void {
    this.db.transaction(() => {
      this.failures.prune(now, now - this.limits.forgetFailuresSeconds);
      this.throttle.prune("source", now, now - this.limits.source.windowSeconds);
      this.throttle.prune("org", now, now - this.limits.org.windowSeconds);
      this.known.prune(now - this.limits.knownSourceSeconds);
    })();
  }
}

function refuseIfLocked(lockedUntil: number, now: number, what: "source" | "user"): void {
  if (lockedUntil <= now) return;
  const details = { retry_after_seconds: String(lockedUntil - now) };
  if (what === "source")
    throw new TesseraError(
      "LOGIN_RATE_LIMITED",
      "too many failed logins from here; try again later",
      details,
    );
  throw new TesseraError("ACCOUNT_LOCKED", "too many failed logins; try again later", details);
}
