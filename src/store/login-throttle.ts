import type { Db } from "./db.js";

/** A fixed-window failure limit: `maxFailures` within `windowSeconds` lock for `lockSeconds`. */
export interface WindowLimit {
  readonly maxFailures: number;
  readonly windowSeconds: number;
  readonly lockSeconds: number;
}

export type ThrottleKind = "source" | "org";

/**
 * Failed logins per source (network address or mTLS identity) and per org, counted in fixed
 * windows. Callers compose these in one IMMEDIATE transaction with the per-username counts.
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
