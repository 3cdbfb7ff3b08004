import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera } from "../helpers/in-memory.js";
import { ManualClock } from "../helpers/lifecycle.js";

const PASSWORD = "correct horse battery staple";

describe("login limits through Authenticate, by the caller's address (finding 19)", () => {
  let t: InMemoryTessera;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await inMemoryTessera(clock.now);
    await t.admin.createUser(
      { username: "owner", password: PASSWORD, role: "admin" },
      { headers: t.adminHeaders },
    );
  });
  afterEach(() => t.close());

  const login = (from: string, username: string, password: string, orgId = t.org.orgId) =>
    t.fromAddress(from).auth.authenticate({
      credential: { case: "password", value: { orgId, username, password } },
      issueTokens: true,
    });

  it("refuses a source that failed 20 times with RESOURCE_EXHAUSTED, other sources still get in", async () => {
    for (let i = 0; i < 20; i++) {
      const f = await failure(login("203.0.113.5", `guess${i}`, PASSWORD, i % 4 ? t.org.orgId : "org_nope"));
      expect(f).toMatchObject({ code: Code.Unauthenticated, reason: "LOGIN_FAILED" });
    }
    const limited = await failure(login("203.0.113.5", "owner", PASSWORD));
    expect(limited).toMatchObject({ code: Code.ResourceExhausted, reason: "LOGIN_RATE_LIMITED" });
    expect(limited.metadata.retry_after_seconds).toBe("900");
    expect((await login("198.51.100.7", "owner", PASSWORD)).tokens?.accessToken).toBeTruthy();
    clock.advance(900);
    expect((await login("203.0.113.5", "owner", PASSWORD)).tokens?.accessToken).toBeTruthy();
  });

  it("an attacker's wrong passwords lock the attacker's address, not the owner's usual one", async () => {
    await login("198.51.100.7", "owner", PASSWORD);
    for (let i = 0; i < 5; i++) await failure(login("203.0.113.5", "owner", `${PASSWORD} ${i}`));
    const locked = await failure(login("203.0.113.5", "owner", PASSWORD));
    expect(locked).toMatchObject({ code: Code.Unauthenticated, reason: "ACCOUNT_LOCKED" });
    expect((await login("198.51.100.7", "owner", PASSWORD)).tokens?.accessToken).toBeTruthy();
    expect(await failure(login("192.0.2.8", "owner", PASSWORD))).toMatchObject({ reason: "ACCOUNT_LOCKED" });
  });

  it("writes no login_failures row for an org that does not exist", async () => {
    for (const org of ["org_AAAAAAAAAAAAAAAAAAAA", "x".repeat(200), "'; DROP TABLE users; --"])
      expect(await failure(login("203.0.113.9", "owner", PASSWORD, org))).toMatchObject({
        reason: "LOGIN_FAILED",
      });
    // Longer than any org id may be: refused at the edge, before any lookup.
    expect(await failure(login("203.0.113.9", "owner", PASSWORD, "x".repeat(2000)))).toMatchObject({
      reason: "FIELD_TOO_LARGE",
    });
    expect(t.store.db.prepare("SELECT count(*) AS n FROM login_failures").get()).toEqual({ n: 0 });
  });
});
