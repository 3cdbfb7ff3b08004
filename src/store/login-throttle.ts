import type { Db } from "./db.js";
import { type LockPolicy, LoginFailureRepository } from "./users.js";

/** A fixed-window failure limit: `maxFailures` within `windowSeconds` lock for `lockSeconds`. */
export interface WindowLimit {
  readonly maxFailures: number;
  readonly windowSeconds: number;
  readonly lockSeconds: number;
}

export type ThrottleKind = "source" | "org";

/**
 * Failed logins per source (network address or mTLS identity) and per org, counted in fixed
 * windows. The login guard's steps compose them in one transaction (LoginAttemptRepository).
 */
export class LoginThrottleRepository {
  constructor(private readonly db: Db) {}

  /** Until when the key is locked (seconds since the epoch; 0 when it never was). */
  lockedUntil(kind: ThrottleKind, key: string): number {
    return (
      this.db
        .prepare<[string, string], { locked_until: number }>(
          "SELECT locked_until FROM login_throttle WHERE kind = ? AND key = ?",
        )
        .get(kind, key)?.locked_until ?? 0
    );
  }

  /** Counts a failure in the current window (a new one once it has passed); returns the count. */
  charge(kind: ThrottleKind, key: string, now: number, limit: WindowLimit): number {
    const row = this.db
      .prepare<[string, string], { failures: number; window_start: number }>(
        "SELECT failures, window_start FROM login_throttle WHERE kind = ? AND key = ?",
      )
      .get(kind, key);
    const inWindow = row !== undefined && now - row.window_start < limit.windowSeconds;
    const failures = (inWindow ? row.failures : 0) + 1;
    const lockedUntil = failures >= limit.maxFailures ? now + limit.lockSeconds : 0;
    this.db
      .prepare(
        `INSERT INTO login_throttle (kind, key, failures, window_start, locked_until)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET
         failures = excluded.failures, window_start = excluded.window_start,
         locked_until = excluded.locked_until`,
      )
      .run(kind, key, failures, inWindow ? row.window_start : now, lockedUntil);
    return failures;
  }

  /** Takes back a failure counted up front for an attempt that succeeded (and the lock it set). */
  refund(kind: ThrottleKind, key: string, maxFailures: number): void {
    this.db
      .prepare(
        `UPDATE login_throttle SET failures = max(failures - 1, 0),
           locked_until = CASE WHEN failures - 1 < ? THEN 0 ELSE locked_until END
         WHERE kind = ? AND key = ?`,
      )
      .run(maxFailures, kind, key);
  }

  /** Deletes unlocked rows whose window began before `before` (bounds the table). */
  prune(kind: ThrottleKind, now: number, before: number): void {
    this.db
      .prepare("DELETE FROM login_throttle WHERE kind = ? AND locked_until <= ? AND window_start < ?")
      .run(kind, now, before);
  }
}

/** Sources each user has logged in from successfully ("known-good"), with the last time. */
export class KnownSourceRepository {
  constructor(private readonly db: Db) {}

  /** True when the user logged in from `source` at or after `since`. */
  isKnown(userId: string, source: string, since: number): boolean {
    return (
      this.db
        .prepare(
          "SELECT 1 AS one FROM login_known_sources WHERE user_id = ? AND source = ? AND last_success_at >= ?",
        )
        .get(userId, source, since) !== undefined
    );
  }

  remember(userId: string, source: string, now: number): void {
    this.db
      .prepare(
        `INSERT INTO login_known_sources (user_id, source, last_success_at) VALUES (?, ?, ?)
         ON CONFLICT (user_id, source) DO UPDATE SET last_success_at = excluded.last_success_at`,
      )
      .run(userId, source, now);
  }

  /** Forgets every source of a user: after a password reset, an attacker's source is no longer trusted. */
  forget(userId: string): void {
    this.db.prepare("DELETE FROM login_known_sources WHERE user_id = ?").run(userId);
  }

  prune(before: number): void {
    this.db.prepare("DELETE FROM login_known_sources WHERE last_success_at < ?").run(before);
  }
}

/** One login attempt, as the guard counts it. */
export interface LoginAttempt {
  readonly now: number;
  readonly source: string | undefined;
  /** Set only for an org that exists: nothing is counted against any other org id. */
  readonly orgId: string | undefined;
  /** Set only for a well-formed username (lower-cased) of an existing org. */
  readonly username: string | undefined;
  /** The user, when the org has one of that name. */
  readonly userId: string | undefined;
}

/** The limits an admission counts against. */
export interface AttemptLimits {
  readonly user: LockPolicy;
  readonly source: WindowLimit;
  readonly org: WindowLimit;
  /** How long a source a user logged in from stays known-good for that user. */
  readonly knownSourceSeconds: number;
}

/** What an admission decided: refused (writing nothing) or admitted and counted up front. */
export type AdmitResult =
  | { readonly refused: "source" | "user"; readonly lockedUntil: number }
  | {
      readonly refused?: undefined;
      /** The username is locked, but this source is known-good for the user. */
      readonly trusted: boolean;
      readonly userFailures: number;
      readonly orgFailures: number;
    };

/** Where pruning stops, per table (seconds since the epoch). */
export interface LoginPruneBounds {
  readonly failuresBefore: number;
  readonly sourceBefore: number;
  readonly orgBefore: number;
  readonly knownBefore: number;
}

/**
 * The login guard's steps, each one transaction over the per-username, per-source and per-org
 * counts and the known-good sources, so concurrent processes see each other's counts.
 */
export class LoginAttemptRepository {
  private readonly failures: LoginFailureRepository;
  private readonly throttle: LoginThrottleRepository;
  private readonly known: KnownSourceRepository;

  constructor(private readonly db: Db) {
    this.failures = new LoginFailureRepository(db);
    this.throttle = new LoginThrottleRepository(db);
    this.known = new KnownSourceRepository(db);
  }

  /**
   * Refuses an attempt from a locked source, or for a locked username from a source not
   * known-good, writing nothing; otherwise counts it as a failure up front (a success gives
   * it back). One IMMEDIATE transaction, so parallel guesses cannot all pass before any fails.
   */
  admit(a: LoginAttempt, limits: AttemptLimits): AdmitResult {
    const run = this.db.transaction((): AdmitResult => {
      const { source, orgId, username } = a;
      const sourceLock = source ? this.throttle.lockedUntil("source", source) : 0;
      if (sourceLock > a.now) return { refused: "source", lockedUntil: sourceLock };
      const state = orgId && username ? this.failures.get(orgId, username) : undefined;
      const locked = state !== undefined && state.lockedUntil > a.now;
      const trusted =
        locked &&
        a.userId !== undefined &&
        source !== undefined &&
        this.known.isKnown(a.userId, source, a.now - limits.knownSourceSeconds);
      if (locked && !trusted) return { refused: "user", lockedUntil: state.lockedUntil };
      if (source) this.throttle.charge("source", source, a.now, limits.source);
      const userFailures =
        orgId && username && !trusted
          ? this.failures.charge(orgId, username, a.now, limits.user)
          : (state?.failures ?? 0) + 1;
      const orgFailures = orgId ? this.throttle.charge("org", orgId, a.now, limits.org) : 0;
      return { trusted, userFailures, orgFailures };
    });
    return run.immediate();
  }

  /** Counts a failure of an (org, username) not counted at admission (a trusted source's); returns the count. */
  chargeUser(orgId: string, username: string, now: number, policy: LockPolicy): number {
    return this.failures.charge(orgId, username, now, policy);
  }

  /**
   * After a right password: gives back what admission counted (and the locks it set) and
   * remembers the source as known-good; a trusted source's success leaves the username's lock on.
   */
  succeeded(a: LoginAttempt, trusted: boolean, limits: AttemptLimits): void {
    this.db.transaction(() => {
      if (a.source) this.throttle.refund("source", a.source, limits.source.maxFailures);
      if (a.orgId) this.throttle.refund("org", a.orgId, limits.org.maxFailures);
      if (a.orgId && a.username && !trusted) this.failures.clear(a.orgId, a.username);
      if (a.userId && a.source) this.known.remember(a.userId, a.source, a.now);
    })();
  }

  /** Deletes rows that no longer lock or count anything, so the tables stay bounded. */
  prune(now: number, b: LoginPruneBounds): void {
    this.db.transaction(() => {
      this.failures.prune(now, b.failuresBefore);
      this.throttle.prune("source", now, b.sourceBefore);
      this.throttle.prune("org", now, b.orgBefore);
      this.known.prune(b.knownBefore);
    })();
  }
}
