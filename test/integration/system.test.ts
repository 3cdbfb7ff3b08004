import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { generateSecret } from "../../src/auth/secrets.js";
import { issueOperatorToken, OPERATOR_LIMITS } from "../../src/core/system.js";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera } from "../helpers/in-memory.js";
import { agentLogin, bearer, ManualClock, newAgent } from "../helpers/lifecycle.js";

describe("SystemService: the server operator, distinct from every org admin", () => {
  let t: InMemoryTessera;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await inMemoryTessera(clock.now);
  });
  afterEach(() => t.close());

  const op = () => ({ headers: t.operatorHeaders });

  /** Every kind of org credential: the admin pair, the primary key, a scoped admin key, an agent's token. */
  async function orgCredentials(): Promise<[string, Record<string, string>][]> {
    const scoped = await t.admin.createApiKey({ name: "ci", scopes: ["admin"] }, { headers: t.adminHeaders });
    const agent = await newAgent(t, "bot", { tier: Tier.PRIVILEGED, roles: ["admin"] });
    const session = await agentLogin(t, agent.id);
    return [
      ["the org's admin pair", t.adminHeaders],
      ["the org's API key", { "x-api-key": t.org.apiKey }],
      ["a scoped admin API key", { "x-api-key": scoped.apiKey }],
      ["an agent's bearer token", bearer(session.access)],
    ];
  }

  it("refuses org credentials of every kind with PERMISSION_DENIED OPERATOR_REQUIRED", async () => {
    const keysBefore = (await t.system.listSigningKeys({}, op())).keys;
    for (const [name, headers] of await orgCredentials()) {
      for (const call of [
        () => t.system.rotateSigningKeys({}, { headers }),
        () => t.system.createOrg({ name: "sneaky" }, { headers }),
        () => t.system.listOrgs({}, { headers }),
        () =>
          t.system.assignIdentityNamespace({ orgId: t.org.orgId, namespace: "spiffe://x.org/" }, { headers }),
      ]) {
        expect(await failure(call()), name).toMatchObject({
          code: Code.PermissionDenied,
          reason: "OPERATOR_REQUIRED",
        });
      }
    }
    // A refused call writes nothing.
    expect((await t.system.listSigningKeys({}, op())).keys).toEqual(keysBefore);
    expect((await t.system.listOrgs({}, op())).orgs).toHaveLength(1);
    expect((await t.system.listIdentityNamespaces({}, op())).namespaces).toEqual([]);
  });

  it("refuses a missing, malformed, unknown or revoked operator token as UNAUTHENTICATED", async () => {
    const revoked = await issueOperatorToken(t.store.operators, "old", clock.now());
    t.store.operators.revokeToken(revoked.row.id, clock.sec);
    const good = t.operatorHeaders["x-operator-token"] ?? "";
    const cases: [Record<string, string>, string][] = [
      [{}, "OPERATOR_TOKEN_MISSING"],
      [
        { "x-operator-token": `${good.slice(0, -1)}${good.endsWith("A") ? "B" : "A"}` },
        "OPERATOR_TOKEN_MALFORMED",
      ],
      [{ "x-operator-token": generateSecret("adminToken") }, "OPERATOR_TOKEN_MALFORMED"],
      [{ "x-operator-token": generateSecret("operatorToken") }, "OPERATOR_TOKEN_UNKNOWN"],
      [{ "x-operator-token": revoked.token }, "OPERATOR_TOKEN_UNKNOWN"],
    ];
    for (const [headers, reason] of cases) {
      expect(await failure(t.system.listOrgs({}, { headers }))).toMatchObject({
        code: Code.Unauthenticated,
        reason,
      });
    }
  });

  it("is not an org credential: AdminService and AuthService refuse it with ORG_CREDENTIAL_REQUIRED", async () => {
    for (const call of [
      () => t.admin.listAgents({}, op()),
      () => t.admin.createAgent({ name: "x" }, op()),
      () => t.admin.bindServiceIdentity({ identity: "spiffe://x.org/a" }, op()),
      () =>
        t.auth.authorize(
          { subject: { case: "attributes", value: { id: "a", roles: ["admin"] } }, scope: "governance:read" },
          op(),
        ),
    ]) {
      expect(await failure(call())).toMatchObject({
        code: Code.PermissionDenied,
        reason: "ORG_CREDENTIAL_REQUIRED",
      });
    }
    expect(t.store.agents.list(t.org.orgId)).toEqual([]);
  });

  it("leaves AdminService without RotateSigningKeys; org admins may still list the keys", async () => {
    expect(AdminService.methods.map((m) => m.name)).not.toContain("RotateSigningKeys");
    const listed = await t.admin.listSigningKeys({}, { headers: t.adminHeaders });
    expect(listed.keys.map((k) => k.state).sort()).toEqual(["active", "next"]);
  });

  it("rotates the signing keys at most once a minute, refusing with RESOURCE_EXHAUSTED and writing nothing", async () => {
    const first = (await t.system.rotateSigningKeys({}, op())).keys;
    const refused = await failure(t.system.rotateSigningKeys({}, op()));
    expect(refused).toMatchObject({ code: Code.ResourceExhausted, reason: "OPERATOR_RATE_LIMITED" });
    expect(refused.metadata).toMatchObject({ action: "keys.rotate", retryAfterSeconds: "60" });
    expect((await t.system.listSigningKeys({}, op())).keys).toEqual(first);
    clock.advance(OPERATOR_LIMITS["keys.rotate"].windowSeconds);
    const second = (await t.system.rotateSigningKeys({}, op())).keys;
    expect(second.find((k) => k.state === "active")?.kid).toBe(first.find((k) => k.state === "next")?.kid);
  });

  it("creates orgs whose credentials work, at most 10 a minute", async () => {
    const created = await t.system.createOrg({ name: "acme" }, op());
    expect(created.apiKey).toMatch(/^tsk_/);
    expect(created.org).toMatchObject({ name: "acme", policyRevision: 0n });
    const acme = { "x-api-key": created.apiKey, "x-admin-token": created.adminToken };
    expect((await t.admin.createAgent({ name: "a" }, { headers: acme })).agent?.orgId).toBe(created.org?.id);
    for (let i = 1; i < OPERATOR_LIMITS["org.create"].max; i++)
      await t.system.createOrg({ name: `o${i}` }, op());
    expect(await failure(t.system.createOrg({ name: "one too many" }, op()))).toMatchObject({
      code: Code.ResourceExhausted,
      reason: "OPERATOR_RATE_LIMITED",
    });
    expect((await t.system.listOrgs({}, op())).orgs).toHaveLength(1 + OPERATOR_LIMITS["org.create"].max);
    expect(await failure(t.system.createOrg({ name: "" }, op()))).toMatchObject({ reason: "NAME_MISSING" });
    clock.advance(60);
    await t.system.createOrg({ name: "later" }, op());
  });
});
