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
    other = await createOrg(t.store, "other", new Date());
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

/**
 * Issue #11, "The caller's org decides": another org's token is refused unless the caller's
 * org has explicitly trusted that org, and then the caller's org's policies decide.
 */
describe("cross-org trust: the trusting org's policies decide a trusted org's tokens", () => {
  let t: InMemoryTessera;
  let other: NewOrg;
  let third: NewOrg;
  let theirAgent = "";
  let theirToken = "";
  const theirs = () => ({ headers: { "x-api-key": other.apiKey, "x-admin-token": other.adminToken } });
  const ours = () => ({ headers: t.adminHeaders });
  const writes = () => (t.store.db.prepare("SELECT total_changes() AS n").get() as { n: number }).n;

  beforeEach(async () => {
    t = await inMemoryTessera();
    other = await createOrg(t.store, "other", new Date());
    third = await createOrg(t.store, "third", new Date());
    // The other org allows everything; ours (the example policy) allows secrets only to
    // privileged admins, which their agent is not.
    t.tessera.policies.put(other.orgId, ALLOW_ALL, "open.yaml");
    const { agent } = await t.admin.createAgent({ name: "theirs", tier: Tier.VERIFIED }, theirs());
    theirAgent = agent?.id ?? "";
    theirToken = (await t.auth.mintToken({ agentId: theirAgent, scopes: ["secrets:read"] }, theirs())).token;
  });
  afterEach(() => t.close());

  const ask = (headers: Record<string, string>, token = theirToken) =>
    t.auth.authorize({ subject: { case: "token", value: token }, scope: "secrets:read" }, { headers });
  const ourKey = () => ({ "x-api-key": t.org.apiKey });

  it("decides their token under our policies once we trust their org: our DENY, not their ALLOW", async () => {
    expect(await failure(ask(ourKey()))).toMatchObject({
      code: Code.Unauthenticated,
      reason: "TOKEN_ORG_MISMATCH",
    });
    const { trusted } = await t.admin.trustOrg({ orgId: other.orgId }, ours());
    expect(trusted?.orgId).toBe(other.orgId);
    expect(await ask(ourKey())).toMatchObject({ decision: Decision.DENY, reason: "NO_MATCHING_RULE" });
    // An allow rule of ours, naming their org through principal.org, is what allows.
    t.tessera.policies.put(
      t.org.orgId,
      `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: partners }
spec:
  rules:
    - name: their-secrets
      scopes: ["secrets:read"]
      effect: allow
      condition: 'principal.org == "${other.orgId}"'
`,
      "partners.yaml",
    );
    expect(await ask(ourKey())).toMatchObject({ decision: Decision.ALLOW, rule: "partners/their-secrets" });
    const batch = await t.auth.authorizeBatch(
      {
        subject: { case: "token", value: theirToken },
        checks: [{ scope: "secrets:read" }, { scope: "x:y" }],
      },
      { headers: ourKey() },
    );
    expect(batch.results.map((r) => r.decision)).toEqual([Decision.ALLOW, Decision.DENY]);
  });

  it("takes the caller's org from any of its credentials: a bearer token of ours", async () => {
    await t.admin.trustOrg({ orgId: other.orgId }, ours());
    const ourToken = await adminMint(t, (await newAgent(t, "ours")).id, ["governance:read"]);
    expect(await ask(bearer(ourToken))).toMatchObject({ decision: Decision.DENY });
  });

  it("is one-directional: their callers still cannot present our tokens", async () => {
    await t.admin.trustOrg({ orgId: other.orgId }, ours());
    const ourToken = await adminMint(t, (await newAgent(t, "ours")).id, ["governance:read"]);
    expect(await failure(ask({ "x-api-key": other.apiKey }, ourToken))).toMatchObject({
      reason: "TOKEN_ORG_MISMATCH",
    });
    expect((await t.admin.listTrustedOrgs({}, theirs())).orgs).toEqual([]);
  });

  it("does not reach a third org: its callers are refused their token, its trust list is its own", async () => {
    await t.admin.trustOrg({ orgId: other.orgId }, ours());
    expect(await failure(ask({ "x-api-key": third.apiKey }))).toMatchObject({ reason: "TOKEN_ORG_MISMATCH" });
    const thirdAdmin = { headers: { "x-api-key": third.apiKey, "x-admin-token": third.adminToken } };
    expect((await t.admin.listTrustedOrgs({}, thirdAdmin)).orgs).toEqual([]);
  });

  it("still refuses a suspended agent's token and a revoked token of the trusted org", async () => {
    await t.admin.trustOrg({ orgId: other.orgId }, ours());
    const revoked = (await t.auth.mintToken({ agentId: theirAgent, scopes: ["secrets:read"] }, theirs()))
      .token;
    await t.auth.revokeToken({ token: revoked }, theirs());
    expect(await failure(ask(ourKey(), revoked))).toMatchObject({ reason: "TOKEN_REVOKED" });
    await t.admin.suspendAgent({ id: theirAgent }, theirs());
    expect(await failure(ask(ourKey()))).toMatchObject({ reason: "AGENT_SUSPENDED" });
  });

  it("refuses their token again once we untrust their org", async () => {
    await t.admin.trustOrg({ orgId: other.orgId }, ours());
    expect((await ask(ourKey())).decision).toBe(Decision.DENY);
    await t.admin.untrustOrg({ orgId: other.orgId }, ours());
    expect(await failure(ask(ourKey()))).toMatchObject({ reason: "TOKEN_ORG_MISMATCH" });
    expect((await t.admin.listTrustedOrgs({}, ours())).orgs).toEqual([]);
  });

  it("logs the decision under our org, with our caller and their org as the subject's", async () => {
    await t.admin.trustOrg({ orgId: other.orgId }, ours());
    await ask(ourKey());
    await t.tessera.decisionLog?.flush();
    const keyId = t.tessera.credentials.apiKey(t.org.apiKey).id;
    const logged = t.store.decisions.recent(t.org.orgId, 10);
    expect(logged.map((d) => [d.subjectId, d.caller, d.subjectOrg, d.allowed])).toEqual([
      [theirAgent, `api_key:${keyId}`, other.orgId, false],
    ]);
    expect(t.store.decisions.recent(other.orgId, 10)).toEqual([]);
  });

  it("explains to our policy managers, about our policies", async () => {
    await t.admin.trustOrg({ orgId: other.orgId }, ours());
    const res = await t.auth.authorize(
      { subject: { case: "token", value: theirToken }, scope: "secrets:read", explain: true },
      ours(),
    );
    expect(res.explanation.map((e) => e.rule)).toContain("example/secrets");
  });

  it("lists trusts, and trusting again changes nothing", async () => {
    const first = await t.admin.trustOrg({ orgId: other.orgId }, ours());
    const before = writes();
    const again = await t.admin.trustOrg({ orgId: other.orgId }, ours());
    expect(writes()).toBe(before);
    expect(again.trusted).toEqual(first.trusted);
    const primaryId = t.tessera.credentials.apiKey(t.org.apiKey).id;
    const { orgs } = await t.admin.listTrustedOrgs({}, ours());
    expect(orgs.map((o) => [o.orgId, o.actor])).toEqual([[other.orgId, `admin:${primaryId}`]]);
    expect(orgs[0]?.trustedAt).toBeDefined();
  });

  it.each([
    ["our own org", () => t.org.orgId, Code.InvalidArgument, "TRUST_OWN_ORG"],
    ["no org id", () => "", Code.InvalidArgument, "ORG_MISSING"],
    ["an unknown org", () => "org_doesNotExist0000000", Code.NotFound, "ORG_NOT_FOUND"],
  ])("refuses to trust %s, writing nothing", async (_name, orgId, code, reason) => {
    const before = writes();
    expect(await failure(t.admin.trustOrg({ orgId: orgId() }, ours()))).toMatchObject({ code, reason });
    expect(writes()).toBe(before);
    expect(t.tessera.orgTrust.trusts(t.org.orgId, orgId())).toBe(false);
  });

  it("refuses to untrust an org we do not trust (NOT_FOUND), writing nothing", async () => {
    // They trust us: the reverse trust is theirs, not ours to end.
    await t.admin.trustOrg({ orgId: t.org.orgId }, theirs());
    const before = writes();
    expect(await failure(t.admin.untrustOrg({ orgId: other.orgId }, ours()))).toMatchObject({
      code: Code.NotFound,
      reason: "TRUST_NOT_FOUND",
    });
    expect(await failure(t.admin.untrustOrg({ orgId: t.org.orgId }, ours()))).toMatchObject({
      reason: "TRUST_OWN_ORG",
    });
    expect(writes()).toBe(before);
  });

  it("needs trust:manage: the admin pair, an admin or trust:manage key, an admin user", async () => {
    const key = async (scope: string) =>
      (await t.admin.createApiKey({ name: scope, scopes: [scope] }, ours())).apiKey;
    const user = async (username: string, role: string) => {
      const password = "correct horse battery staple";
      await t.admin.createUser({ username, password, role }, ours());
      const login = await t.auth.authenticate({
        credential: { case: "password", value: { orgId: t.org.orgId, username, password } },
        issueTokens: true,
      });
      return bearer(login.tokens?.accessToken ?? "");
    };
    const agentToken = bearer(await adminMint(t, (await newAgent(t, "ours")).id, ["governance:read"]));
    const refused: [Record<string, string>, Code, string][] = [
      [ourKey(), Code.Unauthenticated, "ADMIN_TOKEN_MISSING"],
      [{ "x-api-key": await key("policies:manage") }, Code.PermissionDenied, "API_KEY_SCOPE_MISSING"],
      [{ "x-api-key": await key("capabilities:manage") }, Code.PermissionDenied, "API_KEY_SCOPE_MISSING"],
      [await user("ops", "operator"), Code.PermissionDenied, "ROLE_FORBIDDEN"],
      [agentToken, Code.PermissionDenied, "ROLE_FORBIDDEN"],
    ];
    const before = writes();
    for (const [headers, code, reason] of refused) {
      // One call at a time: a refusal that arrives before its promise is awaited would go unhandled.
      for (const call of [
        () => t.admin.trustOrg({ orgId: other.orgId }, { headers }),
        () => t.admin.untrustOrg({ orgId: other.orgId }, { headers }),
        () => t.admin.listTrustedOrgs({}, { headers }),
      ])
        expect(await failure(call())).toMatchObject({ code, reason });
    }
    expect(writes()).toBe(before);
    expect(t.tessera.orgTrust.trusts(t.org.orgId, other.orgId)).toBe(false);
    for (const headers of [
      { "x-api-key": await key("trust:manage") },
      { "x-api-key": await key("admin") },
      await user("boss", "admin"),
    ]) {
      await t.admin.trustOrg({ orgId: other.orgId }, { headers });
      expect((await t.admin.listTrustedOrgs({}, { headers })).orgs.map((o) => o.orgId)).toEqual([
        other.orgId,
      ]);
      await t.admin.untrustOrg({ orgId: other.orgId }, { headers });
    }
  });
});
