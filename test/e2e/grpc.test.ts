import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus as Serving } from "../../gen/grpc/health/v1/health_pb.js";
import { Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { AuthMethod, PrincipalKind, Tier } from "../../gen/tessera/v1/types_pb.js";
import { expectOk } from "../helpers/e2e.js";
import { type GrpcFixture, startGrpcFixture } from "../helpers/grpc-fixture.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("gRPC port over plaintext grpc-js", () => {
  let f: GrpcFixture;
  beforeAll(async () => {
    f = await startGrpcFixture();
  });
  afterAll(async () => f?.close());

  it("creates an agent in the caller's org and mints a token for it", async () => {
    expect(f.agentId).toMatch(/^agt_/);
    const got = expectOk(await f.c.admin.call("getAgent", { id: f.agentId }, f.admin));
    expect(got.agent).toMatchObject({ orgId: f.server.org.orgId, name: "planner", tier: Tier.VERIFIED });
    expect(got.agent?.roles).toEqual(["operator"]);
    const minted = expectOk(
      await f.c.auth.call(
        "mintToken",
        { agentId: f.agentId, scopes: ["governance:propose"], ttl: { seconds: 600n } },
        f.admin,
      ),
    );
    expect(minted.token.split(".")).toHaveLength(3);
    expect(minted.tokenId).toMatch(UUID);
    const lifetime = Number(minted.expiresAt?.seconds ?? 0n) - Math.floor(Date.now() / 1000);
    expect(lifetime).toBeGreaterThan(590);
    expect(lifetime).toBeLessThanOrEqual(600);
  });

  it("allows governance:propose on tool/t1 by rule example/propose", async () => {
    const res = expectOk(
      await f.c.auth.call("authorize", {
        subject: { case: "token", value: f.token },
        scope: "governance:propose",
        resource: { kind: "tool", id: "t1" },
      }),
    );
    expect(res).toMatchObject({
      decision: Decision.ALLOW,
      reason: "ALLOWED_BY_RULE",
      rule: "example/propose",
    });
    expect(res.decisionId).toMatch(UUID);
    expect(res.policyRevision).toBeGreaterThan(0n);
  });

  it.each([
    ["audit:read (an operator is not an admin)", "audit:read", "NO_MATCHING_RULE"],
    ["a scope the token does not carry", "governance:read", "SCOPE_NOT_GRANTED"],
  ])("denies %s as data, not an error", async (_name, scope, reason) => {
    const res = expectOk(
      await f.c.auth.call("authorize", {
        subject: { case: "token", value: f.token },
        scope,
        resource: { kind: "tool", id: "t1" },
      }),
    );
    expect(res).toMatchObject({ decision: Decision.DENY, reason, rule: "" });
    expect(res.decisionId).toMatch(UUID);
  });

  it("authenticates the token as the agent", async () => {
    const res = expectOk(
      await f.c.auth.call("authenticate", { credential: { case: "token", value: f.token } }),
    );
    expect(res.principal).toMatchObject({
      id: f.agentId,
      kind: PrincipalKind.AGENT,
      orgId: f.server.org.orgId,
      name: "planner",
      tier: Tier.VERIFIED,
      roles: ["operator"],
      scopes: ["governance:propose", "audit:read"],
      tags: ["team:core"],
      authMethod: AuthMethod.TOKEN,
    });
    expect(res.principal?.expiresAt).toBeDefined();
  });

  it("authenticates the API key as the org", async () => {
    const res = expectOk(
      await f.c.auth.call("authenticate", { credential: { case: "apiKey", value: f.server.org.apiKey } }),
    );
    expect(res.principal).toMatchObject({
      id: f.server.org.orgId,
      kind: PrincipalKind.API_KEY,
      orgId: f.server.org.orgId,
      authMethod: AuthMethod.API_KEY,
    });
    expect(res.principal?.expiresAt).toBeUndefined();
  });

  it("keeps the two orgs apart: each lists only its own agents", async () => {
    const ours = expectOk(await f.c.admin.call("listAgents", {}, f.admin));
    expect(ours.agents.map((a) => a.id)).toContain(f.agentId);
    expect(ours.agents.map((a) => a.id)).not.toContain(f.otherAgentId);
    expect(f.other.orgId).not.toBe(f.server.org.orgId);
  });

  it.each([
    "",
    "tessera.v1.AuthService",
    "tessera.v1.AdminService",
    "tessera.v1.SystemService",
    "envoy.service.auth.v3.Authorization",
  ])("answers Health/Check SERVING for %j", async (service) => {
    expect(expectOk(await f.c.health.call("check", { service })).status).toBe(Serving.SERVING);
  });
});
