import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { jwtPayload } from "../helpers/e2e.js";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera } from "../helpers/in-memory.js";
import {
  adminMint,
  agentLogin,
  authorizeToken,
  bearer,
  ManualClock,
  newAgent,
} from "../helpers/lifecycle.js";

/**
 * Issue #12, decide and mint, through the Connect transport: the minted token dies with the
 * session, the agent and the token it came from; a `*` subject still yields only the decided
 * scope; a user's token stays a user's; an mTLS identity alone may not mint.
 */
describe("Authorize with mint: lifetime, revocation and who may ask", () => {
  let t: InMemoryTessera;
  const clock = new ManualClock();
  let agent = "";
  const writes = () => (t.store.db.prepare("SELECT total_changes() AS n").get() as { n: number }).n;
  const decideMint = (token: string, headers: Record<string, string> = {}, ttl?: bigint) =>
    t.auth.authorize(
      {
        subject: { case: "token", value: token },
        scope: "governance:read",
        mint: ttl === undefined ? {} : { ttl: { seconds: ttl } },
      },
      { headers },
    );

  beforeEach(async () => {
    t = await inMemoryTessera(clock.now);
    agent = (await newAgent(t, "worker", { tier: Tier.VERIFIED, roles: ["operator"] })).id;
  });
  afterEach(() => t.close());

  it("gives a `*` subject exactly the decided scope, never past the subject's own expiry", async () => {
    const subject = await adminMint(t, agent, ["*"], 120n);
    const res = await decideMint(subject, {}, 3600n);
    expect(res.decision).toBe(Decision.ALLOW);
    const p = jwtPayload(res.token);
    expect(p.scopes).toEqual(["governance:read"]);
    expect(p.exp).toBe(jwtPayload(subject).exp);
    expect(p.decision_id).toBe(res.decisionId);
    clock.advance(121 + 10);
    expect(await failure(authorizeToken(t, res.token))).toMatchObject({ reason: "TOKEN_EXPIRED" });
  });

  it("ends the minted token when the agent's session is logged out", async () => {
    const session = await agentLogin(t, agent);
    const minted = (await decideMint(session.access)).token;
    expect((jwtPayload(minted).act as { sid?: string }).sid).toBe(jwtPayload(session.access).sid);
    expect((await authorizeToken(t, minted)).decision).toBe(Decision.ALLOW);
    await t.auth.logout({ refreshToken: session.refresh });
    expect(await failure(authorizeToken(t, minted))).toMatchObject({
      code: Code.Unauthenticated,
      reason: "TOKEN_REVOKED",
    });
  });

  it("ends the minted token when its subject agent is suspended", async () => {
    const minted = (await decideMint(await adminMint(t, agent, ["governance:*"]))).token;
    await t.admin.suspendAgent({ id: agent }, { headers: t.adminHeaders });
    expect(await failure(authorizeToken(t, minted))).toMatchObject({ reason: "AGENT_SUSPENDED" });
  });

  it("mints a user's token as a user's, from the user's own token, ended by the user's logout", async () => {
    const password = "correct horse battery staple";
    await t.admin.createUser({ username: "ada", password, role: "viewer" }, { headers: t.adminHeaders });
    const login = await t.auth.authenticate({
      credential: { case: "password", value: { orgId: t.org.orgId, username: "ada", password } },
      issueTokens: true,
    });
    const access = login.tokens?.accessToken ?? "";
    const res = await decideMint(access, bearer(access));
    expect(res.decision).toBe(Decision.ALLOW);
    const p = jwtPayload(res.token);
    const s = jwtPayload(access);
    expect([p.kind, p.sub, p.scopes, p.act]).toEqual([
      "user",
      s.sub,
      ["governance:read"],
      { sub: s.sub, jti: s.jti, sid: s.sid },
    ]);
    // Logging out ends the session, and with it the token minted from it.
    await t.auth.logout({ refreshToken: login.tokens?.refreshToken ?? "" });
    expect(await failure(authorizeToken(t, res.token))).toMatchObject({ reason: "TOKEN_REVOKED" });
  });

  it("refuses an mTLS identity alone (MINT_FORBIDDEN) and writes nothing", async () => {
    const peer = { id: "spiffe://tessera.local/gateway", source: "spiffe" as const };
    await t.system.assignIdentityNamespace(
      { orgId: t.org.orgId, namespace: "spiffe://tessera.local/" },
      { headers: t.operatorHeaders },
    );
    await t.admin.bindServiceIdentity({ identity: peer.id }, { headers: t.adminHeaders });
    const subject = await adminMint(t, agent, ["governance:read"]);
    const before = writes();
    const f = await failure(
      t.asPeer(peer).auth.authorize({
        subject: { case: "token", value: subject },
        scope: "governance:read",
        mint: {},
      }),
    );
    expect(f).toMatchObject({ code: Code.PermissionDenied, reason: "MINT_FORBIDDEN" });
    expect(writes()).toBe(before);
  });
});
