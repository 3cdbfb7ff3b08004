import { randomUUID, type webcrypto } from "node:crypto";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { agentSubject, userSubject } from "../../src/core/authenticate.js";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera } from "../helpers/in-memory.js";
import { authorizeToken, bearer, ManualClock, newAgent } from "../helpers/lifecycle.js";

const PASSWORD = "correct horse battery staple";

describe("sessions end when the credential that started them changes (finding 11)", () => {
  let t: InMemoryTessera;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await inMemoryTessera(clock.now);
  });
  afterEach(() => t.close());

  const admin = () => ({ headers: t.adminHeaders });
  const refresh = (token: string) => t.auth.refreshToken({ refreshToken: token });
  const refused = async (call: Promise<unknown>, reason: string, code = Code.Unauthenticated) =>
    expect(await failure(call)).toMatchObject({ code, reason });
  const pair = (res: { tokens?: { accessToken: string; refreshToken: string } | undefined }) => ({
    access: res.tokens?.accessToken ?? "",
    refresh: res.tokens?.refreshToken ?? "",
  });
  const secretLogin = async (agentId: string, secret: string) =>
    pair(
      await t.auth.authenticate({
        credential: { case: "agentSecret", value: { agentId, secret } },
        issueTokens: true,
      }),
    );
  const passwordLogin = async (username: string, password: string) =>
    pair(
      await t.auth.authenticate({
        credential: { case: "password", value: { orgId: t.org.orgId, username, password } },
        issueTokens: true,
      }),
    );

  it("a new agent secret ends the agent's sessions: refresh and access tokens", async () => {
    const agent = await newAgent(t, "rotated");
    const bystander = await newAgent(t, "bystander");
    const { secret } = await t.admin.createAgentSecret({ agentId: agent.id }, admin());
    const { secret: other } = await t.admin.createAgentSecret({ agentId: bystander.id }, admin());
    const first = await secretLogin(agent.id, secret);
    const renewed = pair(await refresh(first.refresh));
    const second = await secretLogin(agent.id, secret);
    const kept = await secretLogin(bystander.id, other);

    const { secret: fresh } = await t.admin.createAgentSecret({ agentId: agent.id }, admin());
    for (const s of [renewed, second]) {
      await refused(refresh(s.refresh), "REFRESH_TOKEN_INVALID");
      await refused(authorizeToken(t, s.access), "TOKEN_REVOKED");
    }
    // Another agent's session lives on, and the new secret starts a working one.
    expect((await authorizeToken(t, kept.access)).reason).toBe("ALLOWED_BY_RULE");
    const next = await secretLogin(agent.id, fresh);
    expect((await authorizeToken(t, pair(await refresh(next.refresh)).access)).reason).toBe(
      "ALLOWED_BY_RULE",
    );
  });

  it("a password reset ends the user's sessions, a stolen admin session included", async () => {
    const created = await t.admin.createUser(
      { username: "root", password: PASSWORD, role: "admin" },
      admin(),
    );
    const userId = created.user?.id ?? "";
    const stolen = await passwordLogin("root", PASSWORD);
    const renewed = pair(await refresh(stolen.refresh));
    expect((await t.admin.listUsers({}, { headers: bearer(renewed.access) })).users).toHaveLength(1);

    await t.admin.setUserPassword({ userId, password: "a brand new password" }, admin());
    await refused(refresh(renewed.refresh), "REFRESH_TOKEN_INVALID");
    await refused(t.admin.listUsers({}, { headers: bearer(renewed.access) }), "TOKEN_REVOKED");
    await refused(t.auth.whoAmI({}, { headers: bearer(stolen.access) }), "TOKEN_REVOKED");
    await refused(passwordLogin("root", PASSWORD), "LOGIN_FAILED");
    const fresh = await passwordLogin("root", "a brand new password");
    expect((await t.auth.whoAmI({}, { headers: bearer(fresh.access) })).principal?.name).toBe("root");
  });

  it("removing a key ends the sessions that key started, and no other", async () => {
    const agent = await newAgent(t, "keyed");
    const keys = await Promise.all([generateKeyPair("EdDSA"), generateKeyPair("EdDSA")]);
    const kids: string[] = [];
    for (const k of keys) {
      const publicKey = JSON.stringify(await exportJWK(k.publicKey));
      kids.push((await t.admin.registerAgentKey({ agentId: agent.id, publicKey }, admin())).keyId);
    }
    // No kid: the agent's keys are tried in turn, and the one that verified is recorded.
    const assertionLogin = async (i: number) => {
      const jwt = await new SignJWT({ aud: "tessera", jti: randomUUID() })
        .setProtectedHeader({ alg: "EdDSA" })
        .setIssuer(agent.id)
        .setSubject(agent.id)
        .setIssuedAt(clock.sec)
        .setExpirationTime(clock.sec + 60)
        .sign(keys[i]?.privateKey as webcrypto.CryptoKey);
      return pair(
        await t.auth.authenticate({ credential: { case: "clientAssertion", value: jwt }, issueTokens: true }),
      );
    };
    // (A new secret ends every session of the agent, so it comes first.)
    const { secret } = await t.admin.createAgentSecret({ agentId: agent.id }, admin());
    const bySecret = await secretLogin(agent.id, secret);
    const byFirst = await assertionLogin(0);
    const bySecond = await assertionLogin(1);

    await t.admin.removeAgentKey({ agentId: agent.id, keyId: kids[1] ?? "" }, admin());
    await refused(refresh(bySecond.refresh), "REFRESH_TOKEN_INVALID");
    await refused(authorizeToken(t, bySecond.access), "TOKEN_REVOKED");
    for (const s of [byFirst, bySecret]) {
      expect((await authorizeToken(t, s.access)).reason).toBe("ALLOWED_BY_RULE");
      expect(pair(await refresh(s.refresh)).access).not.toBe("");
    }
  });

  it("a login that raced a credential change cannot start a session", async () => {
    const created = await t.admin.createUser(
      { username: "racer", password: PASSWORD, role: "viewer" },
      admin(),
    );
    const login = await t.tessera.users.login(t.org.orgId, "racer", PASSWORD);
    await t.tessera.users.setPassword(t.org.orgId, created.user?.id ?? "", "a brand new password");
    const rows = () => t.store.db.prepare("SELECT count(*) AS n FROM refresh_tokens").get();
    const before = rows();
    await expect(t.tessera.sessions.issue(userSubject(login.user), login.start)).rejects.toMatchObject({
      reason: "LOGIN_FAILED",
    });

    const agent = await newAgent(t, "racing");
    const { secret } = await t.admin.createAgentSecret({ agentId: agent.id }, admin());
    const proved = await t.tessera.agentCredentials.authenticateSecret(agent.id, secret);
    await t.admin.createAgentSecret({ agentId: agent.id }, admin());
    await expect(t.tessera.sessions.issue(agentSubject(proved.agent), proved.start)).rejects.toMatchObject({
      reason: "AGENT_SECRET_INVALID",
    });
    expect(rows()).toEqual(before);
  });
});

describe("a session has an absolute lifetime (finding 11)", () => {
  let t: InMemoryTessera;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await inMemoryTessera(clock.now);
  });
  afterEach(() => t.close());

  it("refuses a refresh 24 hours after the login, however recently it was used", async () => {
    const agent = await newAgent(t, "long-lived");
    const { secret } = await t.admin.createAgentSecret({ agentId: agent.id }, { headers: t.adminHeaders });
    const login = await t.auth.authenticate({
      credential: { case: "agentSecret", value: { agentId: agent.id, secret } },
      issueTokens: true,
    });
    const start = clock.sec;
    let tokens = login.tokens;
    // Refreshed every 10 minutes for almost a day: each pair ends by the session's end at the latest.
    for (let elapsed = 600; elapsed < 86400; elapsed += 600) {
      clock.advance(600);
      tokens = (await t.auth.refreshToken({ refreshToken: tokens?.refreshToken ?? "" })).tokens;
      expect(Number(tokens?.refreshTokenExpiresAt?.seconds)).toBeLessThanOrEqual(start + 86400);
      expect(Number(tokens?.accessTokenExpiresAt?.seconds)).toBeLessThanOrEqual(start + 86400);
    }
    expect(Number(tokens?.refreshTokenExpiresAt?.seconds)).toBe(start + 86400);
    const apiKey = { headers: { "x-api-key": t.org.apiKey } };
    const last = tokens?.refreshToken ?? "";
    expect((await t.auth.introspectToken({ token: last }, apiKey)).active).toBe(true);
    clock.advance(600); // 24 hours since the login, 10 minutes since the last refresh
    const f = await failure(t.auth.refreshToken({ refreshToken: last }));
    expect(f).toMatchObject({ code: Code.Unauthenticated, reason: "SESSION_EXPIRED" });
    expect((await t.auth.introspectToken({ token: last }, apiKey)).active).toBe(false);
    // The refused refresh changed nothing: the token was not used up.
    const used = t.store.db.prepare("SELECT count(*) AS n FROM refresh_tokens WHERE used_at IS NULL").get();
    expect(used).toEqual({ n: 1 });
  });
});
