import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { LoginLimits } from "../../../src/core/login-guard.js";
import { UserService } from "../../../src/core/users.js";
import { type ErrorReason, TesseraError } from "../../../src/domain/errors.js";
import type { Async } from "../../../src/store/contract/async.js";
import {
  type AttemptLimits,
  KnownSourceRepository,
  type LoginAttempt,
  LoginAttemptRepository,
  LoginThrottleRepository,
} from "../../../src/store/login-throttle.js";
import {
  PgKnownSourceRepository,
  PgLoginAttemptRepository,
  PgLoginThrottleRepository,
} from "../../../src/store/postgres/login-throttle.js";
import { PgDb } from "../../../src/store/postgres/pg-db.js";
import { PgUserRepository } from "../../../src/store/postgres/users.js";
import { openTestPg, pgSkipReason } from "../../helpers/pg.js";
import { describeBackends, insertRows, type Opened, seedOrg, selectRows } from "./backends.js";

function throttleRepo(o: Opened): Async<LoginThrottleRepository> {
  return o.kind === "sqlite" ? new LoginThrottleRepository(o.db) : new PgLoginThrottleRepository(o.db);
}

function knownRepo(o: Opened): Async<KnownSourceRepository> {
  return o.kind === "sqlite" ? new KnownSourceRepository(o.db) : new PgKnownSourceRepository(o.db);
}

function attemptRepo(o: Opened): Async<LoginAttemptRepository> {
  return o.kind === "sqlite" ? new LoginAttemptRepository(o.db) : new PgLoginAttemptRepository(o.db);
}

const changes = (o: Opened) => selectRows(o, "SELECT kind, org_id, ref FROM changes ORDER BY seq");
const audits = (o: Opened) => selectRows(o, "SELECT action FROM admin_audit ORDER BY seq");
const throttleRows = (o: Opened) =>
  selectRows(
    o,
    "SELECT kind, key, failures, window_start, locked_until FROM login_throttle ORDER BY kind, key",
  );
const failureRows = (o: Opened) =>
  selectRows(
    o,
    "SELECT org_id, username, failures, locked_until FROM login_failures ORDER BY org_id, username",
  );
const knownRows = (o: Opened) =>
  selectRows(o, "SELECT user_id, source, last_success_at FROM login_known_sources ORDER BY user_id, source");

async function seedUser(o: Opened, id: string, orgId = "org-a", username = id): Promise<void> {
  await insertRows(o, "users", [
    { id, org_id: orgId, username, password_hash: "h", role: "viewer", created_at: 1 },
  ]);
}

const WINDOW = { maxFailures: 3, windowSeconds: 100, lockSeconds: 50 };

describeBackends("login throttle", (opened) => {
  it("counts failures per key in a fixed window, locking from the limit on", async () => {
    const o = opened();
    const repo = throttleRepo(o);
    expect(await repo.lockedUntil("source", "ip:192.0.2.1")).toBe(0);
    expect(await repo.charge("source", "ip:192.0.2.1", 1000, WINDOW)).toBe(1);
    expect(await repo.charge("source", "ip:192.0.2.1", 1050, WINDOW)).toBe(2);
    expect(await repo.lockedUntil("source", "ip:192.0.2.1")).toBe(0);
    expect(await repo.charge("source", "ip:192.0.2.1", 1060, WINDOW)).toBe(3);
    expect(await repo.lockedUntil("source", "ip:192.0.2.1")).toBe(1110);
    // The same key of the other kind is another count.
    expect(await repo.charge("org", "ip:192.0.2.1", 1060, WINDOW)).toBe(1);
    expect(await repo.lockedUntil("org", "ip:192.0.2.1")).toBe(0);
    // Once the window has passed, a new one starts with this failure.
    expect(await repo.charge("source", "ip:192.0.2.1", 1100, WINDOW)).toBe(1);
    expect(await throttleRows(o)).toEqual([
      { kind: "org", key: "ip:192.0.2.1", failures: 1, window_start: 1060, locked_until: 0 },
      { kind: "source", key: "ip:192.0.2.1", failures: 1, window_start: 1100, locked_until: 0 },
    ]);
    expect(await changes(o)).toEqual([]);
    expect(await audits(o)).toEqual([]);
  });

  it("refunds one failure, lifting the lock below the limit, never below zero", async () => {
    const o = opened();
    const repo = throttleRepo(o);
    for (const t of [1000, 1001, 1002, 1003]) await repo.charge("source", "s", t, WINDOW);
    await repo.refund("source", "s", WINDOW.maxFailures);
    expect(await repo.lockedUntil("source", "s")).toBe(1053); // 3 failures: still at the limit
    await repo.refund("source", "s", WINDOW.maxFailures);
    expect(await repo.lockedUntil("source", "s")).toBe(0);
    for (let i = 0; i < 4; i++) await repo.refund("source", "s", WINDOW.maxFailures);
    await repo.refund("source", "none", WINDOW.maxFailures);
    expect(await throttleRows(o)).toEqual([
      { kind: "source", key: "s", failures: 0, window_start: 1000, locked_until: 0 },
    ]);
  });

  it("prunes unlocked rows of one kind whose window began before the bound", async () => {
    const o = opened();
    const repo = throttleRepo(o);
    await repo.charge("source", "old", 1000, WINDOW);
    await repo.charge("source", "recent", 2000, WINDOW);
    for (const t of [1000, 1001, 1002])
      await repo.charge("source", "locked", t, { ...WINDOW, lockSeconds: 5000 });
    await repo.charge("org", "old-org", 1000, WINDOW);
    await repo.prune("source", 3000, 1500);
    expect((await throttleRows(o)).map((r) => (r as { key: string }).key)).toEqual([
      "old-org",
      "locked",
      "recent",
    ]);
  });
});

describeBackends("known login sources", (opened) => {
  it("remembers, refreshes, forgets and prunes a user's sources", async () => {
    const o = opened();
    await seedOrg(o, "org-a");
    await seedUser(o, "usr_1");
    await seedUser(o, "usr_2");
    const repo = knownRepo(o);
    expect(await repo.isKnown("usr_1", "ip:a", 0)).toBe(false);
    await repo.remember("usr_1", "ip:a", 1000);
    await repo.remember("usr_1", "ip:b", 500);
    await repo.remember("usr_2", "ip:a", 1000);
    expect(await repo.isKnown("usr_1", "ip:a", 1000)).toBe(true);
    expect(await repo.isKnown("usr_1", "ip:a", 1001)).toBe(false);
    await repo.remember("usr_1", "ip:a", 2000);
    expect(await repo.isKnown("usr_1", "ip:a", 1500)).toBe(true);
    await repo.prune(900);
    expect(await knownRows(o)).toEqual([
      { user_id: "usr_1", source: "ip:a", last_success_at: 2000 },
      { user_id: "usr_2", source: "ip:a", last_success_at: 1000 },
    ]);
    await repo.forget("usr_1");
    expect(await knownRows(o)).toEqual([{ user_id: "usr_2", source: "ip:a", last_success_at: 1000 }]);
    expect(await changes(o)).toEqual([]);
    expect(await audits(o)).toEqual([]);
  });
});

const LIMITS: AttemptLimits = {
  user: { maxFailures: 3, lockSeconds: 600 },
  source: { maxFailures: 4, windowSeconds: 900, lockSeconds: 300 },
  org: { maxFailures: Number.MAX_SAFE_INTEGER, windowSeconds: 900, lockSeconds: 0 },
  knownSourceSeconds: 86400,
};

const attempt = (now: number, extra: Partial<LoginAttempt> = {}): LoginAttempt => ({
  now,
  source: "ip:198.51.100.1",
  orgId: "org-a",
  username: "alice",
  userId: "usr_1",
  ...extra,
});

describeBackends("login attempts", (opened) => {
  it("admits and counts up front per source, username and org", async () => {
    const o = opened();
    const repo = attemptRepo(o);
    expect(await repo.admit(attempt(1000), LIMITS)).toEqual({
      trusted: false,
      userFailures: 1,
      orgFailures: 1,
    });
    expect(await repo.admit(attempt(1001, { username: "bob", userId: undefined }), LIMITS)).toEqual({
      trusted: false,
      userFailures: 1,
      orgFailures: 2,
    });
    // No org (an unknown one): only the source counts.
    expect(
      await repo.admit(attempt(1002, { orgId: undefined, username: undefined, userId: undefined }), LIMITS),
    ).toEqual({ trusted: false, userFailures: 1, orgFailures: 0 });
    expect(await throttleRows(o)).toEqual([
      { kind: "org", key: "org-a", failures: 2, window_start: 1000, locked_until: 0 },
      { kind: "source", key: "ip:198.51.100.1", failures: 3, window_start: 1000, locked_until: 0 },
    ]);
    expect(await failureRows(o)).toEqual([
      { org_id: "org-a", username: "alice", failures: 1, locked_until: 0 },
      { org_id: "org-a", username: "bob", failures: 1, locked_until: 0 },
    ]);
    expect(await changes(o)).toEqual([]);
    expect(await audits(o)).toEqual([]);
  });

  it("refuses a locked source, writing nothing", async () => {
    const o = opened();
    const repo = attemptRepo(o);
    for (let i = 0; i < 4; i++)
      await repo.admit(attempt(1000, { username: `u${i}`, userId: undefined }), LIMITS);
    const before = [await throttleRows(o), await failureRows(o)];
    expect(await repo.admit(attempt(1010), LIMITS)).toEqual({ refused: "source", lockedUntil: 1300 });
    expect([await throttleRows(o), await failureRows(o)]).toEqual(before);
    expect(await repo.admit(attempt(1300), LIMITS)).toMatchObject({ trusted: false });
  });

  it("refuses a locked username from an unknown source, writing nothing, but lets a known-good source in", async () => {
    const o = opened();
    await seedOrg(o, "org-a");
    await seedUser(o, "usr_1", "org-a", "alice");
    const repo = attemptRepo(o);
    const attacker = { source: "ip:203.0.113.9" };
    for (let i = 0; i < 3; i++) await repo.admit(attempt(1000 + i, attacker), LIMITS);
    await insertRows(o, "login_known_sources", [
      { user_id: "usr_1", source: "ip:198.51.100.1", last_success_at: 900 },
    ]);
    const before = [await throttleRows(o), await failureRows(o)];
    expect(await repo.admit(attempt(1010, { source: "ip:192.0.2.77" }), LIMITS)).toEqual({
      refused: "user",
      lockedUntil: 1602,
    });
    expect([await throttleRows(o), await failureRows(o)]).toEqual(before);
    // The owner's usual source: admitted, its failure not counted on the locked username up front.
    expect(await repo.admit(attempt(1011), LIMITS)).toEqual({
      trusted: true,
      userFailures: 4,
      orgFailures: 4,
    });
    expect(await failureRows(o)).toEqual([
      { org_id: "org-a", username: "alice", failures: 3, locked_until: 1602 },
    ]);
    // A known-good source that has not logged in within knownSourceSeconds is not trusted.
    expect(await repo.admit(attempt(900 + 86401), LIMITS)).toMatchObject({ trusted: false });
  });

  it("chargeUser counts a failure not counted at admission, relocking", async () => {
    const o = opened();
    const repo = attemptRepo(o);
    expect(await repo.chargeUser("org-a", "alice", 1000, LIMITS.user)).toBe(1);
    expect(await repo.chargeUser("org-a", "alice", 1001, LIMITS.user)).toBe(2);
    expect(await repo.chargeUser("org-a", "alice", 1002, LIMITS.user)).toBe(3);
    expect(await failureRows(o)).toEqual([
      { org_id: "org-a", username: "alice", failures: 3, locked_until: 1602 },
    ]);
  });

  it("a success gives back the up-front counts, clears the username and remembers the source", async () => {
    const o = opened();
    await seedOrg(o, "org-a");
    await seedUser(o, "usr_1", "org-a", "alice");
    const repo = attemptRepo(o);
    await repo.admit(attempt(1000), LIMITS);
    await repo.admit(attempt(1001), LIMITS);
    await repo.succeeded(attempt(1001), false, LIMITS);
    expect(await throttleRows(o)).toEqual([
      { kind: "org", key: "org-a", failures: 1, window_start: 1000, locked_until: 0 },
      { kind: "source", key: "ip:198.51.100.1", failures: 1, window_start: 1000, locked_until: 0 },
    ]);
    expect(await failureRows(o)).toEqual([]);
    expect(await knownRows(o)).toEqual([
      { user_id: "usr_1", source: "ip:198.51.100.1", last_success_at: 1001 },
    ]);
    expect(await changes(o)).toEqual([]);
    expect(await audits(o)).toEqual([]);
  });

  it("a success refunds the source below its limit (lifting the lock); a trusted one leaves the username locked", async () => {
    const o = opened();
    await seedOrg(o, "org-a");
    await seedUser(o, "usr_1", "org-a", "alice");
    await insertRows(o, "login_known_sources", [
      { user_id: "usr_1", source: "ip:198.51.100.1", last_success_at: 900 },
    ]);
    const repo = attemptRepo(o);
    for (let i = 0; i < 3; i++) await repo.admit(attempt(1000 + i), LIMITS);
    // The username is locked now; its owner's known-good source is still let in, and locks itself.
    expect(await repo.admit(attempt(1003), LIMITS)).toEqual({
      trusted: true,
      userFailures: 4,
      orgFailures: 4,
    });
    expect(await repo.admit(attempt(1003), LIMITS)).toEqual({ refused: "source", lockedUntil: 1303 });
    await repo.succeeded(attempt(1004), true, LIMITS);
    expect(await failureRows(o)).toEqual([
      { org_id: "org-a", username: "alice", failures: 3, locked_until: 1602 },
    ]);
    expect(await throttleRows(o)).toEqual([
      { kind: "org", key: "org-a", failures: 3, window_start: 1000, locked_until: 0 },
      { kind: "source", key: "ip:198.51.100.1", failures: 3, window_start: 1000, locked_until: 0 },
    ]);
    expect(await knownRows(o)).toEqual([
      { user_id: "usr_1", source: "ip:198.51.100.1", last_success_at: 1004 },
    ]);
  });

  it("prunes every table in one step, by its own bound", async () => {
    const o = opened();
    await seedOrg(o, "org-a");
    await seedUser(o, "usr_1", "org-a", "alice");
    const repo = attemptRepo(o);
    await repo.admit(attempt(1000, { username: "old" }), LIMITS);
    await repo.succeeded(attempt(1000, { username: "old" }), false, LIMITS);
    await repo.admit(attempt(5000, { source: "ip:recent", username: "recent" }), LIMITS);
    expect(await knownRows(o)).toHaveLength(1);
    // The org's window began at 5000 (the first had passed): only its own bound prunes it.
    await repo.prune(6000, { failuresBefore: 2000, sourceBefore: 2000, orgBefore: 5500, knownBefore: 2000 });
    expect(await failureRows(o)).toEqual([
      { org_id: "org-a", username: "recent", failures: 1, locked_until: 0 },
    ]);
    expect(await throttleRows(o)).toEqual([
      { kind: "source", key: "ip:recent", failures: 1, window_start: 5000, locked_until: 0 },
    ]);
    expect(await knownRows(o)).toEqual([]);
  });
});

describe.skipIf(pgSkipReason !== undefined)("login limits on two PostgreSQL replicas", () => {
  const CHEAP = { N: 1024, r: 1, p: 1 };
  const PASSWORD = "Zebra-Quartz-7741-secret";
  const limits: LoginLimits = {
    user: { maxFailures: 5, lockSeconds: 900 },
    source: { maxFailures: 7, windowSeconds: 900, lockSeconds: 900 },
    org: { windowSeconds: 900, slowAfter: 1000 },
    knownSourceSeconds: 86400,
    forgetFailuresSeconds: 3600,
  };
  let pg: Awaited<ReturnType<typeof openTestPg>> | undefined;
  let replicas: PgDb[] = [];
  let services: UserService[] = [];
  beforeAll(async () => {
    pg = await openTestPg();
    const url = pg.url;
    replicas = [new PgDb(url), new PgDb(url)];
    services = replicas.map(
      (db) =>
        new UserService({
          users: new PgUserRepository(db),
          attempts: new PgLoginAttemptRepository(db),
          now: () => new Date("2030-01-01T00:00:00Z"),
          sessions: { endAllFor: () => {} },
          limits,
          scryptCost: CHEAP,
          sleep: async () => {},
        }),
    );
    await replicas[0]?.query(
      "INSERT INTO orgs (id, name, policy_revision, created_at) VALUES ('org-r', 'r', 0, 1)",
    );
  });
  afterAll(async () => {
    for (const db of replicas) await db.close();
    await pg?.drop();
  });
  beforeEach(async () => {
    await replicas[0]?.query("TRUNCATE login_failures, login_throttle, login_known_sources");
  });

  async function outcomes(calls: Promise<unknown>[]): Promise<Record<string, number>> {
    const settled = await Promise.allSettled(calls);
    const counts: Record<string, number> = {};
    for (const s of settled) {
      const key: ErrorReason | "ok" =
        s.status === "fulfilled" ? "ok" : s.reason instanceof TesseraError ? s.reason.reason : "INTERNAL";
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  }

  it("wrong passwords split across both replicas lock the account after exactly the configured number", async () => {
    const [one, two] = services as [UserService, UserService];
    await one.create("org-r", { username: "victim", password: PASSWORD, role: "viewer" });
    // Every attempt from its own source, so only the per-username count can refuse.
    const calls = Array.from({ length: 16 }, (_, i) =>
      (i % 2 === 0 ? one : two).login("org-r", "victim", "wrong password!!", { address: `192.0.2.${i + 1}` }),
    );
    expect(await outcomes(calls)).toEqual({ LOGIN_FAILED: 5, ACCOUNT_LOCKED: 11 });
    const rows = await replicas[0]?.query("SELECT failures, locked_until > 0 AS locked FROM login_failures");
    expect(rows).toEqual([{ failures: 5, locked: true }]);
    expect(await outcomes([two.login("org-r", "victim", PASSWORD, { address: "192.0.2.200" })])).toEqual({
      ACCOUNT_LOCKED: 1,
    });
  });

  it("failures from one source split across both replicas are counted exactly, then the source is refused", async () => {
    const [one, two] = services as [UserService, UserService];
    const from = { address: "203.0.113.50" };
    // Different usernames, so only the per-source count can refuse.
    const calls = Array.from({ length: 20 }, (_, i) =>
      (i % 2 === 0 ? one : two).login("org-r", `guess${i}`, "wrong password!!", from),
    );
    expect(await outcomes(calls)).toEqual({ LOGIN_FAILED: 7, LOGIN_RATE_LIMITED: 13 });
    const rows = await replicas[1]?.query(
      "SELECT failures, locked_until > 0 AS locked FROM login_throttle WHERE kind = 'source'",
    );
    expect(rows).toEqual([{ failures: 7, locked: true }]);
    const org = await replicas[1]?.query("SELECT failures FROM login_throttle WHERE kind = 'org'");
    expect(org).toEqual([{ failures: 7 }]);
  });

  it("bare charges from both replicas at once all count", async () => {
    const repos = replicas.map((db) => new PgLoginThrottleRepository(db));
    const window = { maxFailures: 1000, windowSeconds: 900, lockSeconds: 60 };
    const charged = await Promise.all(
      Array.from({ length: 40 }, (_, i) => repos[i % 2]?.charge("source", "ip:burst", 1000, window)),
    );
    expect([...charged].sort((x, y) => (x ?? 0) - (y ?? 0))).toEqual(
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    const attempts = replicas.map((db) => new PgLoginAttemptRepository(db));
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => attempts[i % 2]?.chargeUser("org-r", "burst", 1000, limits.user)),
    );
    const rows = await replicas[0]?.query("SELECT failures FROM login_failures WHERE username = 'burst'");
    expect(rows).toEqual([{ failures: 30 }]);
  });
});
