import { scrypt } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createOrg } from "../../src/core/bootstrap.js";
import { UserService } from "../../src/core/users.js";
import { type ErrorReason, TesseraError } from "../../src/domain/errors.js";
import { LoginAttemptRepository } from "../../src/store/login-throttle.js";
import { openStore, type Store } from "../../src/store/store.js";
import { UserRepository } from "../../src/store/users.js";
import { tempDir } from "../helpers/server.js";

// Counting scrypt runs (not timing them) shows an unknown user costs what a wrong password does.
vi.mock("node:crypto", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:crypto")>();
  return { ...real, scrypt: vi.fn(real.scrypt) };
});
const scryptRuns = vi.mocked(scrypt);

const CHEAP = { N: 1024, r: 1, p: 1 };
const PASSWORD = "Zebra-Quartz-7741-secret";
const T0 = new Date("2030-01-01T00:00:00Z");

/** The reason an async call is refused with (fails when it succeeds or throws something else). */
async function reasonOf(call: Promise<unknown>): Promise<ErrorReason> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TesseraError);
  return (err as TesseraError).reason;
}

const tmp = tempDir();
let store: Store;
let clock: Date;
let slept: number[];
let ended: string[];
let orgA: string;
let orgB: string;
let users: UserService;

const count = (table: "users" | "login_failures") =>
  (store.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
const failureRow = (org: string, name: string) =>
  store.db.prepare("SELECT * FROM login_failures WHERE org_id = ? AND username = ?").get(org, name) as
    | { failures: number; locked_until: number }
    | undefined;
const service = (extra: { scryptCost?: typeof CHEAP } = { scryptCost: CHEAP }) =>
  new UserService({
    users: new UserRepository(store.db),
    attempts: new LoginAttemptRepository(store.db),
    now: () => clock,
    sessions: { endAllFor: (id) => void ended.push(id) },
    sleep: async (ms) => void slept.push(ms),
    ...extra,
  });
const advance = (seconds: number) => {
  clock = new Date(clock.getTime() + seconds * 1000);
};

beforeAll(() => {
  store = openStore(tmp.dir);
});
afterAll(() => {
  void store.close();
  tmp.cleanup();
});
beforeEach(async () => {
  // Fresh orgs per test; the tables are emptied so row counts mean "written by this test".
  store.db.exec("DELETE FROM users; DELETE FROM login_failures");
  orgA = (await createOrg(store, "org-a", T0)).orgId;
  orgB = (await createOrg(store, "org-b", T0)).orgId;
  clock = T0;
  slept = [];
  ended = [];
  users = service();
  scryptRuns.mockClear();
});

describe("creating and reading users", () => {
  it("creates a user with a lower-cased name; the record has no hash", async () => {
    const u = await users.create(orgA, {
      username: "Alice.Ops@example-1_x",
      password: PASSWORD,
      role: "admin",
    });
    expect(u).toEqual({
      id: expect.stringMatching(/^usr_[0-9A-Za-z]{20}$/),
      orgId: orgA,
      username: "alice.ops@example-1_x",
      role: "admin",
      createdAt: T0.getTime() / 1000,
    });
    expect(await users.get(orgA, u.id)).toEqual(u);
    expect(await users.list(orgA)).toEqual([u]);
    const stored = store.db.prepare("SELECT password_hash FROM users WHERE id = ?").get(u.id) as {
      password_hash: string;
    };
    expect(stored.password_hash).toMatch(/^scrypt\$N=1024,r=1,p=1\$/);
    expect(stored.password_hash).not.toContain(PASSWORD);
  });

  it("accepts the edges: a 64-character name, 12- and 1024-character passwords", async () => {
    await users.create(orgA, { username: "a".repeat(64), password: "x".repeat(12), role: "viewer" });
    await users.create(orgA, { username: "b", password: "y".repeat(1024), role: "operator" });
    expect(count("users")).toBe(2);
  });

  it.each<[string, { username: string; password: string; role: string }, ErrorReason]>([
    ["an empty username", { username: "", password: PASSWORD, role: "viewer" }, "USERNAME_INVALID"],
    [
      "a 65-character username",
      { username: "a".repeat(65), password: PASSWORD, role: "viewer" },
      "USERNAME_INVALID",
    ],
    [
      "a space in the username",
      { username: "al ice", password: PASSWORD, role: "viewer" },
      "USERNAME_INVALID",
    ],
    ["a slash in the username", { username: "a/b", password: PASSWORD, role: "viewer" }, "USERNAME_INVALID"],
    ["a non-ASCII username", { username: "zoë", password: PASSWORD, role: "viewer" }, "USERNAME_INVALID"],
    [
      "a Kelvin sign (lower-cases to k)",
      { username: "\u212Aate", password: PASSWORD, role: "viewer" },
      "USERNAME_INVALID",
    ],
    [
      "an 11-character password",
      { username: "bob", password: "x".repeat(11), role: "viewer" },
      "PASSWORD_WEAK",
    ],
    [
      "11 emoji (22 UTF-16 units)",
      { username: "bob", password: "🔑".repeat(11), role: "viewer" },
      "PASSWORD_WEAK",
    ],
    [
      "a 1025-character password",
      { username: "bob", password: "x".repeat(1025), role: "viewer" },
      "PASSWORD_WEAK",
    ],
    ["an empty role", { username: "bob", password: PASSWORD, role: "" }, "ROLE_INVALID"],
    ["a capitalised role", { username: "bob", password: PASSWORD, role: "Admin" }, "ROLE_INVALID"],
    ["an unknown role", { username: "bob", password: PASSWORD, role: "root" }, "ROLE_INVALID"],
  ])("refuses %s and writes nothing", async (_name, input, reason) => {
    expect(await reasonOf(users.create(orgA, input))).toBe(reason);
    expect(count("users")).toBe(0);
    expect(scryptRuns).not.toHaveBeenCalled();
  });

  it("refuses a taken name in any case, but another org may use it", async () => {
    const first = await users.create(orgA, { username: "carol", password: PASSWORD, role: "viewer" });
    expect(await reasonOf(users.create(orgA, { username: "CAROL", password: PASSWORD, role: "admin" }))).toBe(
      "USERNAME_TAKEN",
    );
    expect(await users.list(orgA)).toEqual([first]);
    await users.create(orgB, { username: "carol", password: PASSWORD, role: "admin" });
    expect(count("users")).toBe(2);
  });

  it("keeps orgs apart: another org's user is not found", async () => {
    const u = await users.create(orgA, { username: "dave", password: PASSWORD, role: "viewer" });
    expect(await users.get(orgB, u.id)).toBeUndefined();
    expect(await users.list(orgB)).toEqual([]);
    expect(await reasonOf(users.setPassword(orgB, u.id, "another password 1"))).toBe("USER_NOT_FOUND");
    expect(await reasonOf(Promise.resolve().then(() => users.delete(orgB, u.id)))).toBe("USER_NOT_FOUND");
    expect(await reasonOf(users.login(orgB, "dave", PASSWORD))).toBe("LOGIN_FAILED");
    expect((await users.login(orgA, "dave", PASSWORD)).user).toEqual(u);
  });
});

describe("changing and deleting users", () => {
  it("setPassword replaces the password and forgets failures", async () => {
    const u = await users.create(orgA, { username: "erin", password: PASSWORD, role: "operator" });
    for (let i = 0; i < 4; i++) await reasonOf(users.login(orgA, "erin", "wrong password!"));
    expect(failureRow(orgA, "erin")?.failures).toBe(4);
    await users.setPassword(orgA, u.id, "the new password 2");
    expect(failureRow(orgA, "erin")).toBeUndefined();
    expect(await reasonOf(users.login(orgA, "erin", PASSWORD))).toBe("LOGIN_FAILED");
    expect((await users.login(orgA, "erin", "the new password 2")).user.id).toBe(u.id);
  });

  it("setPassword refuses a weak password or an unknown user and changes nothing", async () => {
    const u = await users.create(orgA, { username: "frank", password: PASSWORD, role: "viewer" });
    const before = store.db.prepare("SELECT password_hash FROM users").all();
    expect(await reasonOf(users.setPassword(orgA, u.id, "short"))).toBe("PASSWORD_WEAK");
    expect(await reasonOf(users.setPassword(orgA, "usr_unknown", "long enough password"))).toBe(
      "USER_NOT_FOUND",
    );
    expect(store.db.prepare("SELECT password_hash FROM users").all()).toEqual(before);
  });

  it("delete removes the user; a second delete is USER_NOT_FOUND", async () => {
    const u = await users.create(orgA, { username: "gina", password: PASSWORD, role: "viewer" });
    await users.delete(orgA, u.id);
    expect(await users.get(orgA, u.id)).toBeUndefined();
    expect(count("users")).toBe(0);
    expect(await reasonOf(users.login(orgA, "gina", PASSWORD))).toBe("LOGIN_FAILED");
    expect(await reasonOf(users.delete(orgA, u.id))).toBe("USER_NOT_FOUND");
  });
});

describe("logging in", () => {
  const make = (username = "hank") => users.create(orgA, { username, password: PASSWORD, role: "operator" });

  it("a right password gives the user at tier verified, whatever the case of the name", async () => {
    const u = await make();
    expect(await users.login(orgA, "HANK", PASSWORD)).toMatchObject({
      user: u,
      tier: "verified",
      start: { credential: "password" },
    });
    expect(count("login_failures")).toBe(0);
  });

  it("a wrong password is LOGIN_FAILED and counted", async () => {
    await make();
    expect(await reasonOf(users.login(orgA, "Hank", `${PASSWORD}x`))).toBe("LOGIN_FAILED");
    expect(failureRow(orgA, "hank")).toMatchObject({ failures: 1, locked_until: 0 });
  });

  it("an unknown user is LOGIN_FAILED too, counted, and costs the same scrypt run", async () => {
    await make();
    scryptRuns.mockClear();
    await reasonOf(users.login(orgA, "hank", "wrong password!"));
    const wrongPasswordRuns = scryptRuns.mock.calls.length;
    scryptRuns.mockClear();
    expect(await reasonOf(users.login(orgA, "Nobody", "wrong password!"))).toBe("LOGIN_FAILED");
    expect(scryptRuns).toHaveBeenCalledTimes(wrongPasswordRuns);
    expect(wrongPasswordRuns).toBe(1);
    // Same parameters as a real hash: the dummy is not a cheaper stand-in.
    expect(scryptRuns.mock.calls[0]?.[3]).toMatchObject(CHEAP);
    expect(failureRow(orgA, "nobody")?.failures).toBe(1);
  });

  it("a malformed username is LOGIN_FAILED after a scrypt run, and no row is kept for it", async () => {
    expect(await reasonOf(users.login(orgA, "x".repeat(5000), PASSWORD))).toBe("LOGIN_FAILED");
    expect(scryptRuns).toHaveBeenCalledTimes(1);
    expect(count("login_failures")).toBe(0);
  });

  it("asks the injected sleep for growing delays: 0, 0, 250, 500, 1000 ms", async () => {
    await make();
    for (let i = 0; i < 5; i++) await reasonOf(users.login(orgA, "hank", "wrong password!"));
    expect(slept).toEqual([0, 0, 250, 500, 1000]);
  });

  it.each([
    ["an existing user", true],
    ["an unknown username", false],
  ])("locks %s after 5 failures, without running scrypt, even for the right password", async (_n, exists) => {
    if (exists) await make();
    for (let i = 0; i < 5; i++)
      expect(await reasonOf(users.login(orgA, "hank", "wrong password!"))).toBe("LOGIN_FAILED");
    expect(failureRow(orgA, "hank")).toEqual(
      expect.objectContaining({ failures: 5, locked_until: T0.getTime() / 1000 + 900 }),
    );
    scryptRuns.mockClear();
    const err = await users.login(orgA, "HANK", PASSWORD).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TesseraError);
    expect((err as TesseraError).reason).toBe("ACCOUNT_LOCKED");
    expect((err as TesseraError).details).toEqual({ retry_after_seconds: "900" });
    expect(scryptRuns).not.toHaveBeenCalled();
    expect(failureRow(orgA, "hank")?.failures).toBe(5); // a refused attempt does not extend the lock
    // The lock is per org.
    expect(await reasonOf(users.login(orgB, "hank", "wrong password!"))).toBe("LOGIN_FAILED");
  });

  it("the lock ends after 15 minutes by the injected clock; a failure after that locks again", async () => {
    const u = await make();
    for (let i = 0; i < 5; i++) await reasonOf(users.login(orgA, "hank", "wrong password!"));
    advance(899);
    expect(await reasonOf(users.login(orgA, "hank", PASSWORD))).toBe("ACCOUNT_LOCKED");
    advance(1);
    expect(await reasonOf(users.login(orgA, "hank", "wrong password!"))).toBe("LOGIN_FAILED");
    expect(slept.at(-1)).toBe(2000); // capped
    expect(await reasonOf(users.login(orgA, "hank", PASSWORD))).toBe("ACCOUNT_LOCKED");
    advance(900);
    expect((await users.login(orgA, "hank", PASSWORD)).user).toEqual(u);
    expect(failureRow(orgA, "hank")).toBeUndefined();
  });

  it("a success resets the count", async () => {
    await make();
    for (let i = 0; i < 4; i++) await reasonOf(users.login(orgA, "hank", "wrong password!"));
    await users.login(orgA, "hank", PASSWORD);
    expect(failureRow(orgA, "hank")).toBeUndefined();
    slept = [];
    for (let i = 0; i < 4; i++) await reasonOf(users.login(orgA, "hank", "wrong password!"));
    expect(slept).toEqual([0, 0, 250, 500]);
    expect((await users.login(orgA, "hank", PASSWORD)).user.username).toBe("hank");
  });

  it("parallel guesses cannot get past the lock: at most 5 scrypt runs", async () => {
    await make();
    scryptRuns.mockClear();
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => reasonOf(users.login(orgA, "hank", `wrong password ${i}`))),
    );
    expect(results.filter((r) => r === "LOGIN_FAILED")).toHaveLength(5);
    expect(results.filter((r) => r === "ACCOUNT_LOCKED")).toHaveLength(7);
    expect(scryptRuns).toHaveBeenCalledTimes(5);
  });

  it("works at the default cost, and upgrades an older hash at the next login", async () => {
    const u = await make();
    const strong = service({}); // no scryptCost: DEFAULT_SCRYPT_COST
    expect((await strong.login(orgA, "hank", PASSWORD)).user).toEqual(u);
    const { password_hash } = store.db.prepare("SELECT password_hash FROM users").get() as {
      password_hash: string;
    };
    expect(password_hash).toMatch(/^scrypt\$N=131072,r=8,p=1\$/);
    expect((await strong.login(orgA, "hank", PASSWORD)).user).toEqual(u);
    expect(await reasonOf(strong.login(orgA, "hank", "wrong password!"))).toBe("LOGIN_FAILED");
  });
});

describe("secrecy", () => {
  it("no error message or details ever contains the password", async () => {
    const u = await users.create(orgA, { username: "ivy", password: PASSWORD, role: "viewer" });
    const calls: (() => Promise<unknown>)[] = [
      () => users.create(orgA, { username: "ivy", password: PASSWORD, role: "viewer" }),
      () =>
        users.create(orgA, { username: PASSWORD.replaceAll("-", " "), password: PASSWORD, role: "viewer" }),
      () => users.create(orgA, { username: "jo", password: PASSWORD, role: PASSWORD }),
      () => users.create(orgA, { username: "jo", password: PASSWORD.slice(0, 11), role: "viewer" }),
      () => users.setPassword(orgA, "usr_unknown", PASSWORD),
      () => users.setPassword(orgA, u.id, PASSWORD.slice(0, 11)),
      () => users.login(orgA, "nobody", PASSWORD),
      () => users.login(orgA, "bad name", PASSWORD),
    ];
    // Six wrong guesses: five LOGIN_FAILED, then ACCOUNT_LOCKED.
    for (let i = 0; i < 6; i++) calls.push(() => users.login(orgA, "ivy", `${PASSWORD}${i}`));
    for (const call of calls) {
      const err = await call().then(
        () => expect.unreachable("the call should fail"),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TesseraError);
      const shown = JSON.stringify({ m: (err as TesseraError).message, d: (err as TesseraError).details });
      expect(shown).not.toContain(PASSWORD.slice(0, 11));
      expect(String((err as Error).stack)).not.toContain(PASSWORD.slice(0, 11));
    }
  });
});
