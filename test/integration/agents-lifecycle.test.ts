import { randomUUID } from "node:crypto";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { AuthMethod, PrincipalKind, Tier } from "../../gen/tessera/v1/types_pb.js";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera } from "../helpers/in-memory.js";
import { adminMint, agentLogin, authorizeToken, ManualClock, newAgent } from "../helpers/lifecycle.js";

describe("agent credentials and lifecycle", () => {
  let t: InMemoryTessera;
  let clock: ManualClock;
  let agentId: string;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await inMemoryTessera(clock.now);
    agentId = (await newAgent(t, "scout")).id;
  });
  afterEach(() => t.close());

  const admin = () => ({ headers: t.adminHeaders });
  const unauth = async (call: Promise<unknown>, reason: string) =>
    expect(await failure(call)).toMatchObject({ code: Code.Unauthenticated, reason });
  const secretLogin = (secret: string) =>
    t.auth.authenticate({
      credential: { case: "agentSecret", value: { agentId, secret } },
      issueTokens: true,
    });
  const propose = (token: string) =>
    t.auth.authorize({
      subject: { case: "token", value: token },
      scope: "governance:propose",
      resource: { kind: "tool", id: "t1" },
    });

  it("exchanges an agent secret for an access and refresh token; a new secret replaces it", async () => {
    const s = await agentLogin(t, agentId);
    expect(s.secret).toMatch(/^tas_/);
    expect(s.principal).toMatchObject({
      id: agentId,
      kind: PrincipalKind.AGENT,
      authMethod: AuthMethod.AGENT_SECRET,
    });
    expect(s.refresh).toMatch(/^trt_/);
    expect((await authorizeToken(t, s.access)).decision).toBe(Decision.ALLOW);
    await t.admin.createAgentSecret({ agentId }, admin());
    await unauth(secretLogin(s.secret), "AGENT_SECRET_INVALID");
    await unauth(secretLogin(`tas_${"A".repeat(46)}`), "AGENT_SECRET_INVALID");
    const noTokens = await failure(
      t.auth.authenticate({ credential: { case: "apiKey", value: t.org.apiKey }, issueTokens: true }),
    );
    expect(noTokens).toMatchObject({ code: Code.InvalidArgument, reason: "ISSUE_TOKENS_UNSUPPORTED" });
  });

  it("logs in with a signed client assertion and refuses its replay", async () => {
    const { publicKey, privateKey } = await generateKeyPair("EdDSA", { extractable: true });
    const jwk = JSON.stringify(await exportJWK(publicKey));
    const reg = await t.admin.registerAgentKey({ agentId, publicKey: jwk }, admin());
    expect(reg.alg).toBe("EdDSA");
    const assertion = await new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: "EdDSA", kid: reg.keyId })
      .setIssuer(agentId)
      .setSubject(agentId)
      .setAudience("tessera")
      .setIssuedAt(clock.sec)
      .setExpirationTime(clock.sec + 60)
      .sign(privateKey);
    const login = () =>
      t.auth.authenticate({ credential: { case: "clientAssertion", value: assertion }, issueTokens: true });
    const res = await login();
    expect(res.principal).toMatchObject({ id: agentId, authMethod: AuthMethod.CLIENT_ASSERTION });
    expect((await authorizeToken(t, res.tokens?.accessToken ?? "")).decision).toBe(Decision.ALLOW);
    await unauth(login(), "ASSERTION_REPLAYED");
  });

  it("suspension kills every token at once; resumption revives none, but new logins work", async () => {
    const s = await agentLogin(t, agentId);
    const minted = await adminMint(t, agentId, ["governance:read"]);
    await t.admin.suspendAgent({ id: agentId }, admin());
    for (const token of [s.access, minted]) await unauth(authorizeToken(t, token), "AGENT_SUSPENDED");
    await unauth(secretLogin(s.secret), "AGENT_SUSPENDED");
    await unauth(t.auth.authenticate({ credential: { case: "token", value: s.access } }), "AGENT_SUSPENDED");
    expect(await failure(adminMint(t, agentId, ["governance:read"]))).toMatchObject({
      code: Code.Unauthenticated,
      reason: "AGENT_SUSPENDED",
    });
    clock.advance(1);
    const resumed = await t.admin.resumeAgent({ id: agentId }, admin());
    expect(resumed.agent?.suspended).toBe(false);
    for (const token of [s.access, minted]) await unauth(authorizeToken(t, token), "TOKEN_REVOKED");
    const again = await secretLogin(s.secret);
    expect((await authorizeToken(t, again.tokens?.accessToken ?? "")).decision).toBe(Decision.ALLOW);
    expect((await authorizeToken(t, await adminMint(t, agentId, ["governance:read"]))).decision).toBe(
      Decision.ALLOW,
    );
  });

  it("applies tier and role changes to tokens minted afterwards; old tokens keep their claims", async () => {
    const old = await adminMint(t, agentId, ["governance:propose"]);
    const s = await agentLogin(t, agentId);
    expect((await propose(old)).decision).toBe(Decision.ALLOW);
    await t.admin.updateAgent(
      { id: agentId, tier: Tier.UNVERIFIED, roles: ["viewer"], setRoles: true },
      admin(),
    );
    expect(await propose(old)).toMatchObject({ decision: Decision.ALLOW, rule: "example/propose" });
    expect((await propose(s.access)).decision).toBe(Decision.ALLOW);
    const fresh = await adminMint(t, agentId, ["governance:propose"]);
    expect(await propose(fresh)).toMatchObject({ decision: Decision.DENY, reason: "NO_MATCHING_RULE" });
    const who = await t.auth.authenticate({ credential: { case: "token", value: fresh } });
    expect(who.principal).toMatchObject({ tier: Tier.UNVERIFIED, roles: ["viewer"] });
    // A refreshed session carries the agent as it is now.
    const renewed = await t.auth.refreshToken({ refreshToken: s.refresh });
    expect((await propose(renewed.tokens?.accessToken ?? "")).decision).toBe(Decision.DENY);
  });

  it("deleting an agent kills its tokens, sessions and secret", async () => {
    const s = await agentLogin(t, agentId);
    const minted = await adminMint(t, agentId, ["governance:read"]);
    await t.admin.deleteAgent({ id: agentId }, admin());
    for (const token of [s.access, minted]) await unauth(authorizeToken(t, token), "TOKEN_REVOKED");
    await unauth(t.auth.refreshToken({ refreshToken: s.refresh }), "REFRESH_TOKEN_INVALID");
    await unauth(secretLogin(s.secret), "AGENT_SECRET_INVALID");
    const gone = await failure(t.admin.getAgent({ id: agentId }, admin()));
    expect(gone).toMatchObject({ code: Code.NotFound, reason: "AGENT_NOT_FOUND" });
  });
});
