import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { createOrg, EXAMPLE_POLICY, type NewOrg } from "../../src/core/bootstrap.js";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera } from "../helpers/in-memory.js";
import { adminMint, bearer, newAgent } from "../helpers/lifecycle.js";

const ALLOW_ALL = `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: open }
spec:
  rules:
    - name: everything
      scopes: ["*"]
      effect: allow
`;

/** The caller's org decides (SECURITY.md): another org's token is refused, never decided there. */
describe("Authorize decides for the caller's org only", () => {
  let t: InMemoryTessera;
  let other: NewOrg;
  let theirToken = "";
  beforeEach(async () => {
    t = await inMemoryTessera();
    other = createOrg(t.store, "other", new Date());
    // The other org allows everything, ours (the example policy) does not.
    t.tessera.policies.put(other.orgId, ALLOW_ALL, "open.yaml");
    const theirAdmin = { headers: { "x-api-key": other.apiKey, "x-admin-token": other.adminToken } };
    const { agent } = await t.admin.createAgent({ name: "theirs", tier: Tier.VERIFIED }, theirAdmin);
    theirToken = (await t.auth.mintToken({ agentId: agent?.id ?? "", scopes: ["secrets:read"] }, theirAdmin))
      .token;
  });
  afterEach(() => t.close());

  const ask = (headers: Record<string, string>, token = theirToken) =>
    t.auth.authorize({ subject: { case: "token", value: token }, scope: "secrets:read" }, { headers });

  it("refuses another org's token sent with our API key: TOKEN_ORG_MISMATCH, not the other org's ALLOW", async () => {
    const f = await failure(ask({ "x-api-key": t.org.apiKey }));
    expect(f).toMatchObject({ code: Code.Unauthenticated, reason: "TOKEN_ORG_MISMATCH" });
  });

  it("refuses it when our credential is a bearer token of our org", async () => {
    const ours = await newAgent(t, "ours");
    const ourToken = await adminMint(t, ours.id, ["governance:read"]);
    expect(await failure(ask(bearer(ourToken)))).toMatchObject({ reason: "TOKEN_ORG_MISMATCH" });
  });

  it("decides a token under its own org when it is the only credential, or with its own org's key", async () => {
    expect((await ask({})).decision).toBe(Decision.ALLOW);
    expect((await ask({ "x-api-key": other.apiKey })).decision).toBe(Decision.ALLOW);
  });

  it("records who asked with each decision: the API key's id, or anonymous for a bare token", async () => {
    const key = await t.admin.listApiKeys({}, { headers: t.adminHeaders });
    const scoped = await t.admin.createApiKey(
      { name: "pep", scopes: ["audit:read"] },
      { headers: t.adminHeaders },
    );
    expect(key.keys.map((k) => k.id)).not.toContain(scoped.key?.id);
    await t.auth.authorize(
      { subject: { case: "attributes", value: { id: "svc-1" } }, scope: "governance:read" },
      { headers: { "x-api-key": scoped.apiKey } },
    );
    await ask({});
    await t.tessera.decisionLog?.flush();
    const ours = t.store.decisions.recent(t.org.orgId, 10);
    expect(ours.map((d) => [d.subjectId, d.caller])).toEqual([["svc-1", `api_key:${scoped.key?.id}`]]);
    const theirs = t.store.decisions.recent(other.orgId, 10);
    expect(theirs.map((d) => d.caller)).toEqual(["anonymous"]);
  });

  it("still decides our own tokens under our policies", async () => {
    const ours = await newAgent(t, "ours");
    const token = await adminMint(t, ours.id, ["secrets:read"]);
    // The example policy allows secrets only to privileged admins; this agent is neither.
    const res = await ask({ "x-api-key": t.org.apiKey }, token);
    expect(res).toMatchObject({ decision: Decision.DENY, reason: "NO_MATCHING_RULE" });
    expect(EXAMPLE_POLICY).toContain("secrets:*");
  });
});

/** Finding 18: `explain` shows rule names and CEL errors, so only policy managers may ask for it. */
describe("explain is for those who may manage policies", () => {
  let t: InMemoryTessera;
  beforeEach(async () => {
    t = await inMemoryTessera();
  });
  afterEach(() => t.close());

  const subject = {
    case: "attributes" as const,
    value: { id: "a1", tier: Tier.VERIFIED, roles: ["operator"] },
  };
  const explain = (headers: Record<string, string>) =>
    t.auth.authorize({ subject, scope: "governance:read", explain: true }, { headers });
  const scopedKey = async (scope: string) =>
    (await t.admin.createApiKey({ name: scope, scopes: [scope] }, { headers: t.adminHeaders })).apiKey;

  it("refuses explain to the org's API key alone, to an audit:read key and to an agent's token", async () => {
    for (const headers of [
      { "x-api-key": t.org.apiKey },
      { "x-api-key": await scopedKey("audit:read") },
      bearer(await adminMint(t, (await newAgent(t, "a")).id, ["governance:read"])),
    ]) {
      expect(await failure(explain(headers))).toMatchObject({
        code: Code.PermissionDenied,
        reason: "EXPLAIN_FORBIDDEN",
      });
    }
    const batch = t.auth.authorizeBatch(
      { subject, checks: [{ scope: "governance:read" }], explain: true },
      { headers: { "x-api-key": t.org.apiKey } },
    );
    expect(await failure(batch)).toMatchObject({ reason: "EXPLAIN_FORBIDDEN" });
  });

  it("explains to the admin pair and to a policies:manage key", async () => {
    for (const headers of [t.adminHeaders, { "x-api-key": await scopedKey("policies:manage") }]) {
      const res = await explain(headers);
      expect(res.explanation.length).toBeGreaterThan(0);
    }
    // Without explain, the plain key decides as before.
    const plain = await t.auth.authorize(
      { subject, scope: "governance:read" },
      { headers: { "x-api-key": t.org.apiKey } },
    );
    expect(plain.decision).toBe(Decision.ALLOW);
  });
});
