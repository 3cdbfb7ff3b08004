import { scrypt } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { hashPassword } from "../../src/auth/passwords.js";
import { createOrg } from "../../src/core/bootstrap.js";
import { type LoginOrigin, sourceKey } from "../../src/core/login-source.js";
import { UserService } from "../../src/core/users.js";
import { type ErrorReason, TesseraError } from "../../src/domain/errors.js";
import { LoginAttemptRepository } from "../../src/store/login-throttle.js";
import { openStore, type Store } from "../../src/store/store.js";
import { UserRepository } from "../../src/store/users.js";
import { tempDir } from "../helpers/server.js";

// Counting scrypt runs shows which refusals come before any password check.
vi.mock("node:crypto", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:crypto")>();
  return { ...real, scrypt: vi.fn(real.scrypt) };
});
const scryptRuns = vi.mocked(scrypt);

const CHEAP = { N: 1024, r: 1, p: 1 };
const PASSWORD = "Zebra-Quartz-7741-secret";
const T0 = new Date("2030-01-01T00:00:00Z");
const OWNER: LoginOrigin = { address: "198.51.100.10" };
const ATTACKER: LoginOrigin = { address: "203.0.113.66" };

const tmp = tempDir();
let store: Store;
let clock: Date;
let slept: number[];
let ended: string[];
let users: UserService;
let orgA: string;
let orgB: string;

const service = (scryptCost = CHEAP) =>
  new UserService({
    users: new UserRepository(store.db),
    attempts: new LoginAttemptRepository(store.db),
    now: () => clock,
    sessions: { endAllFor: (id) => void ended.push(id) },
    sleep: async (ms) => void slept.push(ms),
    scryptCost,
  });
const advance = (seconds: number) => {
  clock = new Date(clock.getTime() + seconds * 1000);
};
const count = (sql: string, ...args: unknown[]) =>
  (store.db.prepare(`SELECT count(*) AS n FROM ${sql}`).get(...args) as { n: number }).n;

/** The reason a login is refused with (fails when it succeeds or throws something else). */
async function reasonOf(call: Promise<unknown>): Promise<ErrorReason> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TesseraError);
  return (err as TesseraError).reason;
}

beforeAll(() => {
  store = openStore(tmp.dir);
});
afterAll(() => {
  void store.close();
  tmp.cleanup();
});
beforeEach(async () => {
  store.db.exec("DELETE FROM users; DELETE FROM login_failures; DELETE FROM login_throttle");
  clock = T0;
  slept = [];
  ended = [];
  users = service();
  orgA = (await createOrg(store, "org-a", T0)).orgId;
  orgB = (await createOrg(store, "org-b", T0)).orgId;
  scryptRuns.mockClear();
});

describe("only orgs that exist are counted (finding 12)", () => {
  it.each([
    ["an unknown, well-formed org id", () => "org_AAAAAAAAAAAAAAAAAAAA"],
    ["a 5000-character org id", () => "o".repeat(5000)],
    ["an org id with path and SQL text", () => "../x' OR 1=1 --"],
    ["an empty org id", () => ""],
    ["an existing org id in other case", () => orgA.toUpperCase()],
  ])("%s: LOGIN_FAILED after a scrypt run, and no login_failures or org row", async (_n, org) => {
    for (let i = 0; i < 6; i++)
      expect(await reasonOf(users.login(org(), `user${i}`, PASSWORD, ATTACKER))).toBe("LOGIN_FAILED");
    expect(scryptRuns).toHaveBeenCalledTimes(6);
    expect(count("login_failures")).toBe(0);
    expect(count("login_throttle WHERE kind = 'org'")).toBe(0);
    // The source is still counted: probing org ids is guessing too.
    expect(count("login_throttle WHERE kind = 'source'")).toBe(1);
  });

  it("a failure against an org that exists is counted as before", async () => {
    expect(await reasonOf(users.login(orgA, "nobody", PASSWORD, ATTACKER))).toBe("LOGIN_FAILED");
    expect(count("login_failures WHERE org_id = ? AND username = 'nobody'", orgA)).toBe(1);
  });

  it("prunes rows whose lock expired and whose last failure is an hour old", async () => {
    await users.create(orgA, { username: "ann", password: PASSWORD, role: "viewer" });
    for (let i = 0; i < 5; i++) await reasonOf(users.login(orgA, "ann", "wrong password!", ATTACKER));
    await reasonOf(users.login(orgA, "someone", "wrong password!", OWNER));
    expect(count("login_failures")).toBe(2);
    advance(30 * 60); // ann's lock (15 min) is over, but the failures are recent
    await reasonOf(users.login(orgB, "x", "wrong password!", { address: "192.0.2.1" }));
    expect(count("login_failures")).toBe(3);
    advance(31 * 60);
    await reasonOf(users.login(orgB, "y", "wrong password!", { address: "192.0.2.2" }));
    // Only the row written 31 minutes ago (x) and the new one (y) are left; sources and orgs
    // of past windows are gone too.
    expect(store.db.prepare("SELECT username FROM login_failures ORDER BY username").all()).toEqual([
      { username: "x" },
      { username: "y" },
    ]);
    expect(count("login_throttle WHERE key IN ('ip:203.0.113.66', 'ip:198.51.100.10', ?)", orgA)).toBe(0);
  });
});

describe("per-source limit (finding 19)", () => {
  it("refuses a source after 20 failures in 15 minutes, whatever it tries, before any scrypt run", async () => {
    await users.create(orgA, { username: "bo", password: PASSWORD, role: "admin" });
    for (let i = 0; i < 20; i++)
      expect(await reasonOf(users.login(i % 2 ? orgA : orgB, `guess${i}`, PASSWORD, ATTACKER))).toBe(
        "LOGIN_FAILED",
      );
    scryptRuns.mockClear();
    const err = await users.login(orgA, "bo", PASSWORD, ATTACKER).catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: "LOGIN_RATE_LIMITED", kind: "resource_exhausted" });
    expect((err as TesseraError).details).toEqual({ retry_after_seconds: "900" });
    expect(await reasonOf(users.login("org_AAAAAAAAAAAAAAAAAAAA", "x", PASSWORD, ATTACKER))).toBe(
      "LOGIN_RATE_LIMITED",
    );
    expect(scryptRuns).not.toHaveBeenCalled();
    // Another source is not affected, and the user is not locked.
    expect((await users.login(orgA, "bo", PASSWORD, OWNER)).user.username).toBe("bo");
    advance(900);
    expect((await users.login(orgA, "bo", PASSWORD, ATTACKER)).user.username).toBe("bo");
  });

  it("a success gives back its up-front count; failures in an old window are forgotten", async () => {
    await users.create(orgA, { username: "cy", password: PASSWORD, role: "viewer" });
    for (let i = 0; i < 19; i++) await reasonOf(users.login(orgA, `g${i}`, PASSWORD, ATTACKER));
    for (let i = 0; i < 5; i++) await users.login(orgA, "cy", PASSWORD, ATTACKER);
    expect(await reasonOf(users.login(orgA, "g-last", PASSWORD, ATTACKER))).toBe("LOGIN_FAILED");
    expect(await reasonOf(users.login(orgA, "cy", PASSWORD, ATTACKER))).toBe("LOGIN_RATE_LIMITED");
    advance(900);
    for (let i = 0; i < 19; i++) await reasonOf(users.login(orgA, `h${i}`, PASSWORD, ATTACKER));
    expect((await users.login(orgA, "cy", PASSWORD, ATTACKER)).user.username).toBe("cy");
  });

  it("parallel guesses from one source cannot get past its limit: at most 20 scrypt runs", async () => {
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => reasonOf(users.login(orgA, `p${i}`, PASSWORD, ATTACKER))),
    );
    expect(results.filter((r) => r === "LOGIN_FAILED")).toHaveLength(20);
    expect(results.filter((r) => r === "LOGIN_RATE_LIMITED")).toHaveLength(10);
    expect(scryptRuns).toHaveBeenCalledTimes(20);
  });

  it.each<[string, LoginOrigin, string | undefined]>([
    ["IPv4", { address: "203.0.113.9" }, "ip:203.0.113.9"],
    ["IPv4-mapped IPv6", { address: "::ffff:203.0.113.9" }, "ip:203.0.113.9"],
    ["IPv6, by /64", { address: "2001:db8:aa:bb:1:2:3:4" }, "ip6:2001:db8:aa:bb::/64"],
    ["IPv6, compressed", { address: "2001:db8::7" }, "ip6:2001:db8:0:0::/64"],
    ["IPv6 loopback", { address: "::1" }, "ip6:0:0:0:0::/64"],
    ["an mTLS identity first", { address: "203.0.113.9", peer: "spiffe://a/b" }, "mtls:spiffe://a/b"],
    ["a huge mTLS identity, hashed", { peer: "x".repeat(300) }, expect.stringMatching(/^mtls#[0-9a-f]{64}$/)],
    ["no address", {}, undefined],
    ["not an address", { address: "unknown" }, undefined],
  ])("counts %s as its source key", (_n, origin, key) => {
    expect(sourceKey(origin)).toEqual(key);
  });

  it("one IPv6 /64 is one source", async () => {
    for (let i = 0; i < 20; i++)
      await reasonOf(users.login(orgA, `v${i}`, PASSWORD, { address: `2001:db8:1:2::${i.toString(16)}` }));
    expect(await reasonOf(users.login(orgA, "v", PASSWORD, { address: "2001:db8:1:2:ffff::1" }))).toBe(
      "LOGIN_RATE_LIMITED",
    );
    expect(await reasonOf(users.login(orgA, "v", PASSWORD, { address: "2001:db8:1:3::1" }))).toBe(
      "LOGIN_FAILED",
    );
  });
});

describe("a username lock spares the user's known-good sources (finding 19, issue #11)", () => {
  const make = () => users.create(orgB, { username: "dee", password: PASSWORD, role: "admin" });

  it("six wrong passwords from an attacker lock the attacker out, not the owner at a usual source", async () => {
    await make();
    await users.login(orgB, "dee", PASSWORD, OWNER); // the owner's usual source
    for (let i = 0; i < 5; i++)
      expect(await reasonOf(users.login(orgB, "dee", `wrong ${i} password`, ATTACKER))).toBe("LOGIN_FAILED");
    expect(await reasonOf(users.login(orgB, "dee", PASSWORD, ATTACKER))).toBe("ACCOUNT_LOCKED");
    // From a source that never logged in as dee, the lock applies (no credential at all: the
    // same answer as for an attacker, so the lock reveals nothing).
    expect(await reasonOf(users.login(orgB, "dee", PASSWORD, { address: "192.0.2.44" }))).toBe(
      "ACCOUNT_LOCKED",
    );
    expect(await reasonOf(users.login(orgB, "dee", PASSWORD))).toBe("ACCOUNT_LOCKED");
    const owner = await users.login(orgB, "dee", PASSWORD, OWNER);
    expect(owner.user.username).toBe("dee");
    // The owner getting in leaves the lock on for everyone else.
    expect(await reasonOf(users.login(orgB, "dee", PASSWORD, ATTACKER))).toBe("ACCOUNT_LOCKED");
  });

  it("a wrong password from a known-good source is still counted and relocks", async () => {
    await make();
    await users.login(orgB, "dee", PASSWORD, OWNER);
    for (let i = 0; i < 5; i++) await reasonOf(users.login(orgB, "dee", "wrong password!", ATTACKER));
    const before = store.db.prepare("SELECT * FROM login_failures").get() as { failures: number };
    advance(60);
    expect(await reasonOf(users.login(orgB, "dee", "wrong password!", OWNER))).toBe("LOGIN_FAILED");
    expect(store.db.prepare("SELECT * FROM login_failures").get()).toMatchObject({
      failures: before.failures + 1,
      locked_until: clock.getTime() / 1000 + 900,
    });
    expect(slept.at(-1)).toBe(2000);
  });

  it("known-good sources are forgotten after 30 days and on a password reset", async () => {
    const u = await make();
    await users.login(orgB, "dee", PASSWORD, OWNER);
    const lockOut = async () => {
      for (let i = 0; i < 5; i++) await reasonOf(users.login(orgB, "dee", "wrong password!", ATTACKER));
    };
    advance(30 * 86400 + 1);
    await lockOut();
    expect(await reasonOf(users.login(orgB, "dee", PASSWORD, OWNER))).toBe("ACCOUNT_LOCKED");
    advance(900);
    await users.login(orgB, "dee", PASSWORD, OWNER);
    await users.setPassword(orgB, u.id, "a brand new password");
    expect(count("login_known_sources")).toBe(0);
    expect(ended).toEqual([u.id]);
    await lockOut();
    expect(await reasonOf(users.login(orgB, "dee", "a brand new password", OWNER))).toBe("ACCOUNT_LOCKED");
  });

  it("deleting the user forgets its sources", async () => {
    const u = await make();
    await users.login(orgB, "dee", PASSWORD, OWNER);
    expect(count("login_known_sources")).toBe(1);
    await users.delete(orgB, u.id);
    expect(count("login_known_sources")).toBe(0);
  });
});

describe("an org under a spray slows down, never locks (finding 19)", () => {
  it("answers failures slower past 25 in 15 minutes, doubling every 25, up to 4 s", async () => {
    await users.create(orgA, { username: "eve", password: PASSWORD, role: "viewer" });
    // Each guess from its own source and username: no per-source or per-username limit applies.
    const spray = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const from = { address: `10.0.${Math.floor(slept.length / 250)}.${slept.length % 250}` };
        await reasonOf(users.login(orgA, `u${slept.length}`, PASSWORD, from));
      }
    };
    await spray(25);
    expect(new Set(slept)).toEqual(new Set([0]));
    await spray(150);
    expect(slept.slice(25, 26)).toEqual([250]);
    expect(slept.slice(50, 51)).toEqual([500]);
    expect(slept.slice(75, 76)).toEqual([1000]);
    expect(slept.slice(100, 101)).toEqual([2000]);
    expect(slept.slice(125)).toEqual(Array(50).fill(4000));
    // Not a lockout: the right password still gets in at once, from anywhere.
    expect((await users.login(orgA, "eve", PASSWORD, { address: "10.9.9.9" })).user.username).toBe("eve");
    // Another org is not slowed.
    await reasonOf(users.login(orgB, "u", PASSWORD, { address: "10.9.9.8" }));
    expect(slept.at(-1)).toBe(0);
  });
});

describe("password hashes (finding 19)", () => {
  it("upgrades a hash at the old default (N=2^15) to N=2^17 at the next successful login", async () => {
    const strong = service({ N: 2 ** 17, r: 8, p: 1 });
    const u = await users.create(orgA, { username: "fay", password: PASSWORD, role: "viewer" });
    const old = await hashPassword(PASSWORD, { N: 2 ** 15, r: 8, p: 1 });
    store.db.prepare("UPDATE users SET password_hash = ? WHERE id = ?").run(old, u.id);
    expect(await reasonOf(strong.login(orgA, "fay", "wrong password!"))).toBe("LOGIN_FAILED");
    expect(store.db.prepare("SELECT password_hash FROM users").get()).toEqual({ password_hash: old });
    await strong.login(orgA, "fay", PASSWORD);
    const { password_hash } = store.db.prepare("SELECT password_hash FROM users").get() as {
      password_hash: string;
    };
    expect(password_hash).toMatch(/^scrypt\$N=131072,r=8,p=1\$/);
  });

  it("a session for a login refuses to start once the password changed since (a reset raced it)", async () => {
    const u = await users.create(orgA, { username: "gus", password: PASSWORD, role: "viewer" });
    const login = await users.login(orgA, "gus", PASSWORD);
    await expect(Promise.resolve(login.start.recheck?.())).resolves.toBeUndefined();
    await users.setPassword(orgA, u.id, "another long password");
    expect(await reasonOf(Promise.resolve().then(() => login.start.recheck?.()))).toBe("LOGIN_FAILED");
  });
});
