import type {
  AdmitResult,
  AttemptLimits,
  LoginAttempt,
  LoginPruneBounds,
  ThrottleKind,
  WindowLimit,
} from "../login-throttle.js";
import type { LockPolicy } from "../users.js";
import type { PgDb, Sql } from "./pg-db.js";
import { chargeFailure, clearFailures, failureState, pruneFailures } from "./users.js";

async function lockedUntil(sql: Sql, kind: ThrottleKind, key: string): Promise<number> {
  const row = await sql.one<{ locked_until: number }>(
    "SELECT locked_until FROM login_throttle WHERE kind = $1 AND key = $2",
    [kind, key],
  );
  return row?.locked_until ?? 0;
}

/**
 * Counts a failure in the current window (a new one once it has passed) in one upsert that
 * reads the stored count as it adds to it, so concurrent charges from any replica all count.
 */
async function chargeWindow(
  sql: Sql,
  kind: ThrottleKind,
  key: string,
  now: number,
  limit: WindowLimit,
): Promise<number> {
  const inWindow = "$3::bigint - t.window_start < $6::bigint";
  const next = `CASE WHEN ${inWindow} THEN t.failures + 1 ELSE 1 END`;
  const row = await sql.one<{ failures: number }>(
    `INSERT INTO login_throttle AS t (kind, key, failures, window_start, locked_until)
     VALUES ($1, $2, 1, $3, CASE WHEN 1 >= $4::bigint THEN $3::bigint + $5::bigint ELSE 0 END)
     ON CONFLICT (kind, key) DO UPDATE SET
       failures = ${next},
       window_start = CASE WHEN ${inWindow} THEN t.window_start ELSE $3::bigint END,
       locked_until = CASE WHEN ${next} >= $4::bigint THEN $3::bigint + $5::bigint ELSE 0 END
     RETURNING failures`,
    [kind, key, now, limit.maxFailures, limit.lockSeconds, limit.windowSeconds],
  );
  return row?.failures ?? 0;
}

async function refund(sql: Sql, kind: ThrottleKind, key: string, maxFailures: number): Promise<void> {
  await sql.query(
    `UPDATE login_throttle SET failures = greatest(failures - 1, 0),
       locked_until = CASE WHEN failures - 1 < $1::bigint THEN 0 ELSE locked_until END
     WHERE kind = $2 AND key = $3`,
    [maxFailures, kind, key],
  );
}

async function pruneThrottle(sql: Sql, kind: ThrottleKind, now: number, before: number): Promise<void> {
  await sql.query("DELETE FROM login_throttle WHERE kind = $1 AND locked_until <= $2 AND window_start < $3", [
    kind,
    now,
    before,
  ]);
}

async function isKnown(sql: Sql, userId: string, source: string, since: number): Promise<boolean> {
  const row = await sql.one(
    "SELECT 1 AS one FROM login_known_sources WHERE user_id = $1 AND source = $2 AND last_success_at >= $3",
    [userId, source, since],
  );
  return row !== undefined;
}

async function remember(sql: Sql, userId: string, source: string, now: number): Promise<void> {
  await sql.query(
    `INSERT INTO login_known_sources (user_id, source, last_success_at) VALUES ($1, $2, $3)
     ON CONFLICT (user_id, source) DO UPDATE SET last_success_at = excluded.last_success_at`,
    [userId, source, now],
  );
}

/** Failed logins per source and per org on PostgreSQL (see the SQLite LoginThrottleRepository). */
export class PgLoginThrottleRepository {
  constructor(private readonly db: PgDb) {}

  lockedUntil(kind: ThrottleKind, key: string): Promise<number> {
    return lockedUntil(this.db, kind, key);
  }

  /** Counts a failure in the current window; returns the count (exact under concurrent charges). */
  charge(kind: ThrottleKind, key: string, now: number, limit: WindowLimit): Promise<number> {
    return chargeWindow(this.db, kind, key, now, limit);
  }

  refund(kind: ThrottleKind, key: string, maxFailures: number): Promise<void> {
    return refund(this.db, kind, key, maxFailures);
  }

  prune(kind: ThrottleKind, now: number, before: number): Promise<void> {
    return pruneThrottle(this.db, kind, now, before);
  }
}

/** Known-good login sources on PostgreSQL (see the SQLite KnownSourceRepository). */
export class PgKnownSourceRepository {
  constructor(private readonly db: PgDb) {}

  isKnown(userId: string, source: string, since: number): Promise<boolean> {
    return isKnown(this.db, userId, source, since);
  }

  remember(userId: string, source: string, now: number): Promise<void> {
    return remember(this.db, userId, source, now);
  }

  async forget(userId: string): Promise<void> {
    await this.db.query("DELETE FROM login_known_sources WHERE user_id = $1", [userId]);
  }

  async prune(before: number): Promise<void> {
    await this.db.query("DELETE FROM login_known_sources WHERE last_success_at < $1", [before]);
  }
}

/**
 * Takes the transaction-scoped advisory lock named `key`: admissions of the same source, or of
 * the same (org, username), run one after another on every replica, as SQLite's IMMEDIATE
 * transactions do. Always source first, then username: two admissions never wait on each other
 * in opposite orders.
 */
async function serialize(sql: Sql, key: string): Promise<void> {
  await sql.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [key]);
}

/** The login guard's steps on PostgreSQL (see the SQLite LoginAttemptRepository). */
export class PgLoginAttemptRepository {
  constructor(private readonly db: PgDb) {}

  /**
   * Refuses (writing nothing) or admits and counts up front, in one transaction holding the
   * source's and the username's advisory locks: a concurrent admission of either waits, then
   * sees this one's counts and locks.
   */
  admit(a: LoginAttempt, limits: AttemptLimits): Promise<AdmitResult> {
    return this.db.tx(async (sql): Promise<AdmitResult> => {
      const { source, orgId, username } = a;
      if (source) await serialize(sql, `login:source:${source}`);
      if (orgId && username) await serialize(sql, `login:user:${orgId}\n${username}`);
      const sourceLock = source ? await lockedUntil(sql, "source", source) : 0;
      if (sourceLock > a.now) return { refused: "source", lockedUntil: sourceLock };
      const state = orgId && username ? await failureState(sql, orgId, username) : undefined;
      const locked = state !== undefined && state.lockedUntil > a.now;
      const trusted =
        locked &&
        a.userId !== undefined &&
        source !== undefined &&
        (await isKnown(sql, a.userId, source, a.now - limits.knownSourceSeconds));
      if (locked && !trusted) return { refused: "user", lockedUntil: state.lockedUntil };
      if (source) await chargeWindow(sql, "source", source, a.now, limits.source);
      const userFailures =
        orgId && username && !trusted
          ? await chargeFailure(sql, orgId, username, a.now, limits.user)
          : (state?.failures ?? 0) + 1;
      const orgFailures = orgId ? await chargeWindow(sql, "org", orgId, a.now, limits.org) : 0;
      return { trusted, userFailures, orgFailures };
    });
  }

  /** Counts a failure not counted at admission; returns the count (exact under concurrent charges). */
  chargeUser(orgId: string, username: string, now: number, policy: LockPolicy): Promise<number> {
    return chargeFailure(this.db, orgId, username, now, policy);
  }

  /**
   * Gives back what admission counted and remembers the source, in one transaction. Rows are
   * touched in admission's order (source, username, org), so the two never deadlock.
   */
  succeeded(a: LoginAttempt, trusted: boolean, limits: AttemptLimits): Promise<void> {
    return this.db.tx(async (sql) => {
      if (a.source) await refund(sql, "source", a.source, limits.source.maxFailures);
      if (a.orgId && a.username && !trusted) await clearFailures(sql, a.orgId, a.username);
      if (a.orgId) await refund(sql, "org", a.orgId, limits.org.maxFailures);
      if (a.userId && a.source) await remember(sql, a.userId, a.source, a.now);
    });
  }

  /** Deletes rows that no longer lock or count anything, in one transaction. */
  prune(now: number, b: LoginPruneBounds): Promise<void> {
    return this.db.tx(async (sql) => {
      await pruneFailures(sql, now, b.failuresBefore);
      await pruneThrottle(sql, "source", now, b.sourceBefore);
      await pruneThrottle(sql, "org", now, b.orgBefore);
      await sql.query("DELETE FROM login_known_sources WHERE last_success_at < $1", [b.knownBefore]);
    });
  }
}
