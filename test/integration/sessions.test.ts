import { toBinary } from "@bufbuild/protobuf";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { IntrospectTokenResponseSchema } from "../../gen/tessera/v1/auth_service_pb.js";
import { AuthMethod, PrincipalKind } from "../../gen/tessera/v1/types_pb.js";
import { generateSecret } from "../../src/auth/secrets.js";
import { createOrg } from "../../src/core/bootstrap.js";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera } from "../helpers/in-memory.js";
import { agentLogin, authorizeToken, bearer, ManualClock, newAgent } from "../helpers/lifecycle.js";

const PASSWORD = "correct horse battery staple";

describe("sessions: refresh rotation, reuse, revocation, introspection, logout", () => {
  let t: InMemoryTessera;
  let clock: ManualClock;
  let agentId: string;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await inMemoryTessera(clock.now);
    agentId = (await newAgent(t, "scout")).id;
  });
  afterEach(() => t.close());

  const refresh = (token: string) => t.auth.refreshToken({ refreshToken: token });
  const refused = async (call: Promise<unknown>, reason: string) =>
    expect(await failure(call)).toMatchObject({ code: Code.Unauthenticated, reason });
  const apiKey = () => ({ headers: { "x-api-key": t.org.apiKey } });

  it("rotates on every refresh: each use returns a new working pair", async () => {
    const s = await agentLogin(t, agentId);
    const one = (await refresh(s.refresh)).tokens;
    const two = (await refresh(one?.refreshToken ?? "")).tokens;
    const all = [
      s.access,
      s.refresh,
      one?.accessToken,
      one?.refreshToken,
      two?.accessToken,
      two?.refreshToken,
    ];
    expect(new Set(all).size).toBe(6);
    expect(two?.refreshToken).toMatch(/^trt_/);
    expect((await authorizeToken(t, two?.accessToken ?? "")).reason).toBe("ALLOWED_BY_RULE");
  });

  it("revokes the whole family when a used refresh token is replayed", async () => {
    const s = await agentLogin(t, agentId);
    const other = await agentLogin(t, agentId);
    const one = (await refresh(s.refresh)).tokens;
    const two = (await refresh(one?.refreshToken ?? "")).tokens;
    await refused(refresh(s.refresh), "REFRESH_TOKEN_REUSED");
    await refused(refresh(two?.refreshToken ?? ""), "REFRESH_TOKEN_INVALID");
    for (const access of [s.access, one?.accessToken, two?.accessToken])
      await refused(authorizeToken(t, access ?? ""), "TOKEN_REVOKED");
    // Another session of the same agent is a different family and lives on.
    expect((await authorizeToken(t, other.access)).reason).toBe("ALLOWED_BY_RULE");
    expect((await refresh(other.refresh)).tokens?.accessToken).toBeTruthy();
  });

  it("lets exactly one of two concurrent refreshes of one token succeed", async () => {
    for (let i = 0; i < 5; i++) {
      const s = await agentLogin(t, agentId);
      const results = await Promise.allSettled([refresh(s.refresh), refresh(s.refresh)]);
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const lost = results.find((r) => r.status === "rejected");
      expect(await failure(Promise.reject(lost?.reason))).toMatchObject({ code: Code.Unauthenticated });
    }
  });

  it("never takes a refresh token for an access token, nor the other way round", async () => {
    const s = await agentLogin(t, agentId);
    await refused(authorizeToken(t, s.refresh), "TOKEN_MALFORMED");
    await refused(t.auth.whoAmI({}, { headers: bearer(s.refresh) }), "TOKEN_MALFORMED");
    await refused(refresh(s.access), "REFRESH_TOKEN_INVALID");
  });

  it("revokes an access token, a refresh token's session, and answers OK for anything else", async () => {
    const a = await agentLogin(t, agentId);
    await t.auth.revokeToken({ token: a.access }, apiKey());
    await refused(authorizeToken(t, a.access), "TOKEN_REVOKED");
    const b = await agentLogin(t, agentId);
    await t.auth.revokeToken({ token: b.refresh }, { headers: bearer(b.access) });
    await refused(refresh(b.refresh), "REFRESH_TOKEN_INVALID");
    await refused(authorizeToken(t, b.access), "TOKEN_REVOKED");
    const junk = [generateSecret("refreshToken"), "trt_short", "not.a.jwt", "", "x".repeat(9000), a.access];
    for (const token of junk) await t.auth.revokeToken({ token }, apiKey());
    await refused(t.auth.revokeToken({ token: b.access }), "CALLER_UNIDENTIFIED");
  });

  it("introspects live tokens with their claims and everything else as active:false only", async () => {
    const s = await agentLogin(t, agentId);
    const access = await t.auth.introspectToken({ token: s.access }, apiKey());
    expect(access).toMatchObject({ active: true, tokenType: "access_token", sub: agentId, org: t.org.orgId });
    expect(access.jti).not.toBe("");
    expect(access.exp?.seconds).toBe(BigInt(clock.sec + 900));
    const rt = await t.auth.introspectToken({ token: s.refresh }, { headers: bearer(s.access) });
    expect(rt).toMatchObject({ active: true, tokenType: "refresh_token", sub: agentId, org: t.org.orgId });

    const other = await createOrg(t.store, "other", clock.now());
    const used = (await refresh(s.refresh)).tokens;
    const revoked = await agentLogin(t, agentId);
    await t.auth.revokeToken({ token: revoked.access }, apiKey());
    const cases: [string, string, Record<string, string>][] = [
      ["garbage", "garbage", apiKey().headers],
      ["a used refresh token", s.refresh, apiKey().headers],
      ["a revoked access token", revoked.access, apiKey().headers],
      ["another org's view of an access token", used?.accessToken ?? "", { "x-api-key": other.apiKey }],
      ["another org's view of a refresh token", used?.refreshToken ?? "", { "x-api-key": other.apiKey }],
    ];
    for (const [name, token, headers] of cases) {
      const res = await t.auth.introspectToken({ token }, { headers });
      expect(toBinary(IntrospectTokenResponseSchema, res), name).toHaveLength(0);
    }
    clock.advance(900 + 11);
    const expired = await t.auth.introspectToken({ token: used?.accessToken ?? "" }, apiKey());
    expect(toBinary(IntrospectTokenResponseSchema, expired)).toHaveLength(0);
    await refused(t.auth.introspectToken({ token: s.access }), "CALLER_UNIDENTIFIED");
  });

  describe("users", () => {
    beforeEach(async () => {
      await t.admin.createUser(
        { username: "ada", password: PASSWORD, role: "operator" },
        { headers: t.adminHeaders },
      );
    });
    const login = (username: string, password: string) =>
      t.auth.authenticate({
        credential: { case: "password", value: { orgId: t.org.orgId, username, password } },
        issueTokens: true,
      });

    it("logs in with a password, answers WhoAmI for the bearer, and logs out by refresh token", async () => {
      const res = await login("ada", PASSWORD);
      expect(res.principal).toMatchObject({ kind: PrincipalKind.USER, authMethod: AuthMethod.PASSWORD });
      const access = res.tokens?.accessToken ?? "";
      const who = await t.auth.whoAmI({}, { headers: bearer(access) });
      expect(who.principal).toMatchObject({
        kind: PrincipalKind.USER,
        name: "ada",
        roles: ["operator"],
        orgId: t.org.orgId,
        authMethod: AuthMethod.TOKEN,
      });
      await t.auth.logout({ refreshToken: res.tokens?.refreshToken ?? "" });
      await refused(t.auth.whoAmI({}, { headers: bearer(access) }), "TOKEN_REVOKED");
      await refused(refresh(res.tokens?.refreshToken ?? ""), "REFRESH_TOKEN_INVALID");
      await refused(t.auth.logout({ refreshToken: generateSecret("refreshToken") }), "SESSION_INVALID");
      await refused(t.auth.logout({}), "CREDENTIAL_MISSING");
    });

    it("logs out by bearer: the session's refresh and access tokens stop working", async () => {
      const res = await login("ada", PASSWORD);
      const one = (await refresh(res.tokens?.refreshToken ?? "")).tokens;
      await t.auth.logout({}, { headers: bearer(one?.accessToken ?? "") });
      await refused(refresh(one?.refreshToken ?? ""), "REFRESH_TOKEN_INVALID");
      await refused(t.auth.whoAmI({}, { headers: bearer(res.tokens?.accessToken ?? "") }), "TOKEN_REVOKED");
    });

    it("authorizes admin calls by the session's role, refusing the others with ROLE_FORBIDDEN", async () => {
      const operator = bearer((await login("ada", PASSWORD)).tokens?.accessToken ?? "");
      await t.admin.listAgents({}, { headers: operator });
      const forbidden = await failure(
        t.admin.createApiKey({ name: "k", scopes: ["a:b"] }, { headers: operator }),
      );
      expect(forbidden).toMatchObject({ code: Code.PermissionDenied, reason: "ROLE_FORBIDDEN" });
      const agent = bearer((await agentLogin(t, agentId)).access);
      const asAgent = await failure(t.admin.listAgents({}, { headers: agent }));
      expect(asAgent).toMatchObject({ code: Code.PermissionDenied, reason: "ROLE_FORBIDDEN" });
    });

    it("answers unknown usernames like wrong passwords, and locks after repeated failures", async () => {
      await refused(login("nobody", PASSWORD), "LOGIN_FAILED");
      for (let i = 0; i < 5; i++) await refused(login("ada", `${PASSWORD}!`), "LOGIN_FAILED");
      const locked = await failure(login("ada", PASSWORD));
      expect(locked).toMatchObject({ code: Code.Unauthenticated, reason: "ACCOUNT_LOCKED" });
      expect(Number(locked.metadata.retry_after_seconds)).toBeGreaterThan(0);
      clock.advance(15 * 60);
      expect((await login("ada", PASSWORD)).tokens?.accessToken).toBeTruthy();
    });
  });
});
