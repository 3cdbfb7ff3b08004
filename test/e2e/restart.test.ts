import { decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import type { NewOrg } from "../../src/core/bootstrap.js";
import { adminHeaders, expectOk } from "../helpers/e2e.js";
import { grpcClients } from "../helpers/grpc-fixture.js";
import { startTestServer, type TestServer, tempDir } from "../helpers/server.js";

const EXTRA_POLICY = `apiVersion: tessera.dev/v1
kind: Policy
metadata:
  name: extra
spec:
  rules:
    - name: reports
      scopes: ["reports:read"]
      effect: allow
      roles: [viewer]
`;

const reportsQuery = (subject: { case: "token"; value: string }) => ({
  subject,
  scope: "reports:read",
  resource: { kind: "report", id: "r1" },
});

describe("restart on the same data directory", () => {
  let data: ReturnType<typeof tempDir>;
  let org: NewOrg;
  let agentId: string;
  let token: string;
  let revision: bigint;
  let denyBeforePolicy: string;
  let restarted: TestServer;
  let c: ReturnType<typeof grpcClients>;

  beforeAll(async () => {
    data = tempDir("tessera-restart-");
    const first = await startTestServer({}, data.dir);
    const c1 = grpcClients(`127.0.0.1:${first.grpcPort}`);
    try {
      org = first.org;
      const admin = adminHeaders(org);
      const created = expectOk(
        await c1.admin.call(
          "createAgent",
          { name: "reporter", tier: Tier.UNVERIFIED, roles: ["viewer"] },
          admin,
        ),
      );
      agentId = created.agent?.id ?? "";
      const minted = expectOk(
        await c1.auth.call("mintToken", { agentId, scopes: ["reports:read"], ttl: { seconds: 600n } }, admin),
      );
      token = minted.token;
      const before = expectOk(await c1.auth.call("authorize", reportsQuery({ case: "token", value: token })));
      denyBeforePolicy = before.reason;
      const put = expectOk(await c1.admin.call("putPolicy", { document: EXTRA_POLICY }, admin));
      expect(put.name).toBe("extra");
      revision = put.revision;
    } finally {
      for (const client of Object.values(c1)) client.close();
      await first.stop({ keepData: true });
    }
    restarted = await startTestServer({}, data.dir);
    c = grpcClients(`127.0.0.1:${restarted.grpcPort}`);
  });

  afterAll(async () => {
    for (const client of Object.values(c ?? {})) client.close();
    await restarted?.stop();
    data?.cleanup();
  });

  it("denied reports:read before the policy change (the control)", () => {
    expect(denyBeforePolicy).toBe("NO_MATCHING_RULE");
  });

  it("creates no second development org", () => {
    expect(restarted.devOrg).toBeUndefined();
  });

  it("still knows the org's credentials and its agent", async () => {
    const listed = expectOk(await c.admin.call("listAgents", {}, adminHeaders(org)));
    expect(listed.agents.map((a) => a.id)).toEqual([agentId]);
    expect(listed.agents[0]).toMatchObject({ name: "reporter", tier: Tier.UNVERIFIED, roles: ["viewer"] });
  });

  it("serves the same policy revision, with both documents", async () => {
    const policies = expectOk(await c.admin.call("listPolicies", {}, adminHeaders(org)));
    expect(policies.revision).toBe(revision);
    expect(policies.policies.map((p) => p.name).sort()).toEqual(["example", "extra"]);
  });

  it("still allows reports:read by the new rule, with a token minted before the restart", async () => {
    const res = expectOk(await c.auth.call("authorize", reportsQuery({ case: "token", value: token })));
    expect(res).toMatchObject({
      decision: Decision.ALLOW,
      rule: "extra/reports",
      policyRevision: revision,
    });
    const who = expectOk(await c.auth.call("authenticate", { credential: { case: "token", value: token } }));
    expect(who.principal).toMatchObject({ id: agentId, orgId: org.orgId });
  });

  it("keeps the example policy too", async () => {
    const res = expectOk(
      await c.auth.call(
        "authorize",
        {
          subject: { case: "attributes", value: { id: "a1", tier: Tier.VERIFIED, roles: ["operator"] } },
          scope: "governance:propose",
          resource: { kind: "tool", id: "t1" },
        },
        { "x-api-key": org.apiKey },
      ),
    );
    expect(res).toMatchObject({ decision: Decision.ALLOW, rule: "example/propose" });
  });

  it("signs with the same persisted key: the JWKS holds it and the published next key, no more", async () => {
    const res = await fetch(`http://127.0.0.1:${restarted.httpPort}/.well-known/jwks.json`, {
      signal: AbortSignal.timeout(10_000),
    });
    const jwks = (await res.json()) as { keys: { kid: string }[] };
    // Two keys: the active one (which signed the old token) and the next one, published before it signs.
    expect(jwks.keys).toHaveLength(2);
    expect(jwks.keys.map((k) => k.kid)).toContain(decodeProtectedHeader(token).kid);
    const fresh = expectOk(
      await c.auth.call("mintToken", { agentId, scopes: ["reports:read"] }, adminHeaders(org)),
    );
    expect(decodeProtectedHeader(fresh.token).kid).toBe(decodeProtectedHeader(token).kid);
  });
});
