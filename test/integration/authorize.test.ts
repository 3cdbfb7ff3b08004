import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera } from "../helpers/in-memory.js";

const EXTRA = `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: extra }
spec:
  rules:
    - name: reports
      scopes: ["reports:read"]
      effect: allow
      roles: [viewer]
`;

function attributes(roles: string[], tier = Tier.VERIFIED) {
  return { case: "attributes" as const, value: { id: "agent_abc123", tier, roles } };
}

describe("Authorize through the in-memory Connect transport", () => {
  let t: InMemoryTessera;
  beforeEach(async () => {
    t = await inMemoryTessera();
  });
  afterEach(() => t.close());

  const ask = (scope: string, roles: string[], tier = Tier.VERIFIED, kind = "tool") =>
    t.auth.authorize(
      { subject: attributes(roles, tier), scope, resource: { kind, id: "t1" } },
      { headers: { "x-api-key": t.org.apiKey } },
    );

  it("allows by rule and names the rule and revision", async () => {
    const res = await ask("governance:propose", ["operator"]);
    expect(res.decision).toBe(Decision.ALLOW);
    expect(res.reason).toBe("ALLOWED_BY_RULE");
    expect(res.rule).toBe("example/propose");
    expect(res.policyRevision).toBe(1n);
    expect(res.decisionId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("denies with NO_MATCHING_RULE when the tier, role or resource kind does not fit", async () => {
    for (const res of [
      await ask("governance:propose", ["operator"], Tier.UNVERIFIED),
      await ask("governance:propose", ["viewer"]),
      await ask("governance:propose", ["operator"], Tier.VERIFIED, "dataset"),
    ]) {
      expect(res.decision).toBe(Decision.DENY);
      expect(res.reason).toBe("NO_MATCHING_RULE");
      expect(res.rule).toBe("");
    }
  });

  it("lets an inheriting role do what the inherited role may", async () => {
    expect((await ask("governance:read", ["admin"])).decision).toBe(Decision.ALLOW);
    expect((await ask("audit:read", ["operator"])).decision).toBe(Decision.DENY);
  });

  it("applies a policy change to the very next call, with no restart", async () => {
    expect((await ask("reports:read", ["viewer"])).decision).toBe(Decision.DENY);
    const put = await t.admin.putPolicy({ document: EXTRA }, { headers: t.adminHeaders });
    expect(put.revision).toBe(2n);
    const after = await ask("reports:read", ["viewer"]);
    expect(after.decision).toBe(Decision.ALLOW);
    expect(after.rule).toBe("extra/reports");
    expect(after.policyRevision).toBe(2n);
  });

  it("rejects a bad policy whole, with its position, and keeps the revision in force", async () => {
    const bad = EXTRA.replace("roles: [viewer]", "roles: [wizard]");
    const f = await failure(t.admin.putPolicy({ document: bad }, { headers: t.adminHeaders }));
    expect(f.code).toBe(Code.InvalidArgument);
    expect(f.reason).toBe("POLICY_INVALID");
    expect(f.metadata).toMatchObject({ rule: "reports", line: "9" });
    const list = await t.admin.listPolicies({}, { headers: t.adminHeaders });
    expect(list.revision).toBe(1n);
    expect(list.policies.map((p) => p.name)).toEqual(["example"]);
  });

  it("refuses a request without subject or scope as INVALID_ARGUMENT", async () => {
    const headers = { "x-api-key": t.org.apiKey };
    expect(await failure(t.auth.authorize({ scope: "a:b" }, { headers }))).toMatchObject({
      code: Code.InvalidArgument,
      reason: "SUBJECT_MISSING",
    });
    expect(await failure(t.auth.authorize({ subject: attributes([]) }, { headers }))).toMatchObject({
      code: Code.InvalidArgument,
      reason: "SCOPE_MISSING",
    });
    expect(
      await failure(t.auth.authorize({ subject: attributes([]), scope: "not a scope" }, { headers })),
    ).toMatchObject({
      code: Code.InvalidArgument,
      reason: "SCOPE_INVALID",
    });
  });

  it("takes the org from a bound mTLS identity when no API key is sent", async () => {
    const peer = { id: "spiffe://tessera.local/gateway", source: "spiffe" as const };
    const asGateway = t.asPeer(peer);
    const before = await failure(
      asGateway.auth.authorize({ subject: attributes(["operator"]), scope: "governance:read" }),
    );
    expect(before).toMatchObject({ code: Code.Unauthenticated, reason: "CALLER_UNIDENTIFIED" });
    await t.system.assignIdentityNamespace(
      { orgId: t.org.orgId, namespace: "spiffe://tessera.local/" },
      { headers: t.operatorHeaders },
    );
    await t.admin.bindServiceIdentity({ identity: peer.id }, { headers: t.adminHeaders });
    const res = await asGateway.auth.authorize({
      subject: attributes(["operator"]),
      scope: "governance:read",
    });
    expect(res.decision).toBe(Decision.ALLOW);
    const who = await asGateway.auth.authenticate({});
    expect(who.principal).toMatchObject({ id: peer.id, orgId: t.org.orgId });
  });
});
