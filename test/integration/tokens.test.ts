import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { AuthMethod, PrincipalKind, Tier } from "../../gen/tessera/v1/types_pb.js";
import { createOrg } from "../../src/core/bootstrap.js";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera } from "../helpers/in-memory.js";

describe("MintToken and token subjects through the in-memory transport", () => {
  let t: InMemoryTessera;
  let clock: Date;
  beforeEach(async () => {
    clock = new Date("2026-11-23T12:00:00Z");
    t = await inMemoryTessera(() => clock);
  });
  afterEach(() => t.close());

  async function agentAndToken(scopes: string[], ttl = 600n) {
    const { agent } = await t.admin.createAgent(
      { name: "scout", tier: Tier.VERIFIED, roles: ["operator"], tags: ["fleet:a"] },
      { headers: t.adminHeaders },
    );
    if (!agent) throw new Error("no agent");
    const minted = await t.auth.mintToken(
      { agentId: agent.id, scopes, ttl: { seconds: ttl } },
      { headers: t.adminHeaders },
    );
    return { agent, token: minted.token, minted };
  }

  it("mints a token whose claims make the agent principal", async () => {
    const { agent, token, minted } = await agentAndToken(["governance:*"]);
    expect(minted.expiresAt?.seconds).toBe(BigInt(clock.getTime() / 1000 + 600));
    const { principal } = await t.auth.authenticate({ credential: { case: "token", value: token } });
    expect(principal).toMatchObject({
      id: agent.id,
      kind: PrincipalKind.AGENT,
      orgId: t.org.orgId,
      name: "scout",
      tier: Tier.VERIFIED,
      roles: ["operator"],
      scopes: ["governance:*"],
      tags: ["fleet:a"],
      authMethod: AuthMethod.TOKEN,
    });
  });

  it("authorizes a token subject with the token's org and scopes", async () => {
    const { token } = await agentAndToken(["governance:propose"]);
    const allow = await t.auth.authorize({
      subject: { case: "token", value: token },
      scope: "governance:propose",
      resource: { kind: "tool", id: "t1" },
    });
    expect(allow).toMatchObject({ decision: Decision.ALLOW, rule: "example/propose" });
    const notGranted = await t.auth.authorize({
      subject: { case: "token", value: token },
      scope: "governance:read",
    });
    expect(notGranted).toMatchObject({ decision: Decision.DENY, reason: "SCOPE_NOT_GRANTED" });
  });

  it("refuses an expired token once the clock passes exp plus tolerance", async () => {
    const { token } = await agentAndToken(["governance:propose"], 60n);
    clock = new Date(clock.getTime() + 65_000); // inside the 10 s tolerance
    expect(
      (await t.auth.authorize({ subject: { case: "token", value: token }, scope: "governance:propose" }))
        .reason,
    ).toBe("NO_MATCHING_RULE");
    clock = new Date(clock.getTime() + 10_000);
    const f = await failure(
      t.auth.authorize({ subject: { case: "token", value: token }, scope: "governance:propose" }),
    );
    expect(f).toMatchObject({ code: Code.Unauthenticated, reason: "TOKEN_EXPIRED" });
  });

  it("caps the lifetime and never mints for another org's agent", async () => {
    const { agent } = await agentAndToken(["a:b"]);
    const tooLong = await failure(
      t.auth.mintToken(
        { agentId: agent.id, scopes: [], ttl: { seconds: 3601n } },
        { headers: t.adminHeaders },
      ),
    );
    expect(tooLong).toMatchObject({ code: Code.InvalidArgument, reason: "TTL_TOO_LONG" });
    const other = await createOrg(t.store, "other", clock);
    const foreign = await failure(
      t.auth.mintToken(
        { agentId: agent.id, scopes: [] },
        { headers: { "x-api-key": other.apiKey, "x-admin-token": other.adminToken } },
      ),
    );
    expect(foreign).toMatchObject({ code: Code.NotFound, reason: "AGENT_NOT_FOUND" });
    const mixed = await failure(
      t.auth.mintToken(
        { agentId: agent.id, scopes: [] },
        { headers: { "x-api-key": t.org.apiKey, "x-admin-token": other.adminToken } },
      ),
    );
    expect(mixed).toMatchObject({ code: Code.Unauthenticated, reason: "ADMIN_TOKEN_ORG_MISMATCH" });
  });

  it("writes nothing when an admin call is refused", async () => {
    const bad = await failure(
      t.admin.createAgent({ name: "x", roles: ["Not A Role"] }, { headers: t.adminHeaders }),
    );
    expect(bad).toMatchObject({ code: Code.InvalidArgument, reason: "ROLE_INVALID" });
    const noToken = await failure(
      t.admin.createAgent({ name: "y" }, { headers: { "x-api-key": t.org.apiKey } }),
    );
    expect(noToken).toMatchObject({ code: Code.Unauthenticated, reason: "ADMIN_TOKEN_MISSING" });
    expect((await t.admin.listAgents({}, { headers: t.adminHeaders })).agents).toHaveLength(0);
  });
});
