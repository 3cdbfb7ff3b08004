import { generateKeyPairSync } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Authorization, type CheckResponse } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import { StatusCode as HttpCode } from "../../gen/envoy/type/v3/http_status_pb.js";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { AuthService, Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { SystemService } from "../../gen/tessera/v1/system_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { adminHeaders, type CallResult, expectFailure, expectOk } from "../helpers/e2e.js";
import { grpcClient } from "../helpers/grpc-client.js";
import { type GrpcFixture, startGrpcFixture } from "../helpers/grpc-fixture.js";
import { createOperatorToken } from "../helpers/server.js";

/**
 * Issue #9, "Proof": two orgs in one server; every RPC of every service is called with org A's
 * credentials against org B's objects (every kind of id), and must be refused (NOT_FOUND,
 * PERMISSION_DENIED, UNAUTHENTICATED) or act on A alone — and B must be exactly as it was.
 * Issue #12 adds Envoy's ext_authz Check: A's proxy asking about B's token or B's service
 * identity is a deny, decided by neither org's policies (both would allow the request).
 */

const B_POLICY = `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: b-private }
spec:
  rules:
    - { name: read, scopes: ["reports:read"], effect: allow }
`;
const A_POLICY = B_POLICY.replace("b-private", "a-own").replace("reports:read", "a-things:read");
/** The same route in both orgs, each to a scope its own policy allows for anyone. */
const routes = (name: string, scope: string) => `apiVersion: tessera.dev/v1
kind: RouteMap
metadata: { name: ${name} }
spec:
  routes:
    - match: { method: GET, path: /reports }
      scope: ${scope}
      resource: { kind: report }
  default: deny
`;
const B_ROUTES = routes("b-routes", "reports:read");
const A_ROUTES = routes("a-routes", "a-things:read");
const NAMESPACE = "spiffe://b.example/";

type Outcome =
  | { readonly refused: grpc.status; readonly reason: string }
  /** Succeeds, for A: `check` looks at the answer (it must show nothing of B's). */
  | { readonly ok: (value: Record<string, unknown>) => void };

/** An Envoy Check of `GET /reports` with the checked request's headers and source principal. */
function checkOf(headers: Record<string, string>, principal = "") {
  return {
    attributes: {
      source: { principal },
      request: { http: { method: "GET", host: "reports.internal", path: "/reports", headers, size: -1n } },
    },
  };
}

/** A CheckResponse as the proxy acts on it: the gRPC status code, the HTTP status, the reason. */
function checkSummary(v: Record<string, unknown>) {
  const r = v as unknown as CheckResponse;
  if (r.httpResponse.case === "okResponse") return { code: r.status?.code ?? 0, http: 200, reason: "" };
  const denied = r.httpResponse.case === "deniedResponse" ? r.httpResponse.value : undefined;
  const body = denied?.body ? (JSON.parse(denied.body) as { reason?: string }) : {};
  return { code: r.status?.code, http: denied?.status?.code, reason: body.reason };
}

interface Case {
  readonly request: Record<string, unknown>;
  readonly outcome: Outcome;
  /** Headers other than A's admin pair (A's API key alone, no credential…). */
  readonly headers?: Record<string, string>;
}

describe("tenant isolation: org A's credentials against org B's objects", () => {
  let f: GrpcFixture;
  let system: ReturnType<typeof grpcClient<typeof SystemService.method>>;
  let envoy: ReturnType<typeof grpcClient<typeof Authorization.method>>;
  let a: Record<string, string>;
  let b: Record<string, string>;
  const B = {
    agent: "",
    keyId: "",
    apiKeyId: "",
    userId: "",
    token: "",
    refresh: "",
    identity: `${NAMESPACE}ledger`,
  };
  let fingerprintBefore: unknown;
  /** A token of A's own agent for A's route. */
  const A = { token: "" };

  /** Everything of B's that A's calls could have changed, read with B's own credentials. */
  async function fingerprint(): Promise<unknown> {
    const agent = expectOk(await f.c.admin.call("getAgent", { id: B.agent }, b)).agent;
    const policies = expectOk(await f.c.admin.call("listPolicies", {}, b));
    const keys = expectOk(await f.c.admin.call("listApiKeys", {}, b)).keys;
    const users = expectOk(await f.c.admin.call("listUsers", {}, b)).users;
    const identities = expectOk(await f.c.admin.call("listServiceIdentities", {}, b)).identities;
    const trusted = expectOk(await f.c.admin.call("listTrustedOrgs", {}, b)).orgs;
    const decision = expectOk(
      await f.c.auth.call(
        "authorize",
        { subject: { case: "token", value: B.token }, scope: "reports:read" },
        { "x-api-key": b["x-api-key"] ?? "" },
      ),
    );
    const introspect = expectOk(
      await f.c.auth.call("introspectToken", { token: B.refresh }, { "x-api-key": b["x-api-key"] ?? "" }),
    );
    // B's own proxy: B's token and B's service identity are allowed GET /reports by B's policies.
    const bProxy = { "x-api-key": b["x-api-key"] ?? "" };
    const checkToken = expectOk(
      await envoy.call("check", checkOf({ authorization: `Bearer ${B.token}` }), bProxy),
    );
    const checkService = expectOk(await envoy.call("check", checkOf({}, B.identity), bProxy));
    return {
      agent: { id: agent?.id, tier: agent?.tier, suspended: agent?.suspended, parent: agent?.parentId },
      revision: policies.revision,
      policies: policies.policies.map((p) => [p.name, p.revision]),
      keys: keys.map((k) => [k.id, k.revokedAt !== undefined]),
      users: users.map((u) => u.id),
      identities: identities.map((i) => i.identity),
      trusted: trusted.map((t) => t.orgId),
      decision: decision.decision,
      sessionActive: introspect.active,
      checkToken: checkSummary(checkToken as never),
      checkService: checkSummary(checkService as never),
    };
  }

  beforeAll(async () => {
    f = await startGrpcFixture();
    system = grpcClient(SystemService, f.address);
    envoy = grpcClient(Authorization, f.address);
    a = f.admin;
    b = adminHeaders(f.other);
    B.agent = f.otherAgentId;
    const operator = { "x-operator-token": await createOperatorToken(f.server.dataDir) };
    expectOk(
      await system.call("assignIdentityNamespace", { orgId: f.other.orgId, namespace: NAMESPACE }, operator),
    );
    expectOk(await f.c.admin.call("bindServiceIdentity", { identity: B.identity }, b));
    const pem = generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }).toString();
    B.keyId = expectOk(
      await f.c.admin.call("registerAgentKey", { agentId: B.agent, publicKey: pem }, b),
    ).keyId;
    B.apiKeyId =
      expectOk(await f.c.admin.call("createApiKey", { name: "b-ci", scopes: ["audit:read"] }, b)).key?.id ??
      "";
    B.userId =
      expectOk(
        await f.c.admin.call(
          "createUser",
          { username: "shared-name", password: "correct horse battery staple", role: "admin" },
          b,
        ),
      ).user?.id ?? "";
    expectOk(await f.c.admin.call("putPolicy", { document: B_POLICY }, b));
    expectOk(await f.c.admin.call("putPolicy", { document: B_ROUTES }, b));
    // A's own map and rule for the same route (GET /reports → a-things:read, allowed for anyone):
    // a deny of A's proxy below is not A's NO_ROUTE, and a service subject would be allowed.
    expectOk(await f.c.admin.call("putPolicy", { document: A_POLICY }, a));
    expectOk(await f.c.admin.call("putPolicy", { document: A_ROUTES }, a));
    A.token = expectOk(
      await f.c.auth.call(
        "mintToken",
        { agentId: f.agentId, scopes: ["a-things:read"], ttl: { seconds: 600n } },
        a,
      ),
    ).token;
    B.token = expectOk(
      await f.c.auth.call(
        "mintToken",
        { agentId: B.agent, scopes: ["reports:read"], ttl: { seconds: 600n } },
        b,
      ),
    ).token;
    const { secret } = expectOk(await f.c.admin.call("createAgentSecret", { agentId: B.agent }, b));
    const login = expectOk(
      await f.c.auth.call("authenticate", {
        credential: { case: "agentSecret", value: { agentId: B.agent, secret } },
        issueTokens: true,
      }),
    );
    B.refresh = login.tokens?.refreshToken ?? "";
    fingerprintBefore = await fingerprint();
  });
  afterAll(async () => {
    system?.close();
    envoy?.close();
    await f?.close();
  });

  const notFound = (reason: string): Outcome => ({ refused: grpc.status.NOT_FOUND, reason });
  const noneOf = (field: string, ids: () => string[]) => (v: Record<string, unknown>) => {
    const text = JSON.stringify(v[field], (_k, x) => (typeof x === "bigint" ? String(x) : x));
    for (const id of ids()) expect(text).not.toContain(id);
  };
  const aKey = () => ({ "x-api-key": a["x-api-key"] ?? "" });

  const ADMIN: Record<string, () => Case> = {
    createAgent: () => ({ request: { name: "x", parentId: B.agent }, outcome: notFound("AGENT_NOT_FOUND") }),
    getAgent: () => ({ request: { id: B.agent }, outcome: notFound("AGENT_NOT_FOUND") }),
    listAgents: () => ({ request: {}, outcome: { ok: noneOf("agents", () => [B.agent]) } }),
    updateAgent: () => ({
      request: { id: B.agent, tier: Tier.PRIVILEGED },
      outcome: notFound("AGENT_NOT_FOUND"),
    }),
    suspendAgent: () => ({ request: { id: B.agent }, outcome: notFound("AGENT_NOT_FOUND") }),
    resumeAgent: () => ({ request: { id: B.agent }, outcome: notFound("AGENT_NOT_FOUND") }),
    deleteAgent: () => ({ request: { id: B.agent }, outcome: notFound("AGENT_NOT_FOUND") }),
    createAgentSecret: () => ({ request: { agentId: B.agent }, outcome: notFound("AGENT_NOT_FOUND") }),
    registerAgentKey: () => ({
      request: {
        agentId: B.agent,
        publicKey: generateKeyPairSync("ed25519")
          .publicKey.export({ type: "spki", format: "pem" })
          .toString(),
      },
      outcome: notFound("AGENT_NOT_FOUND"),
    }),
    removeAgentKey: () => ({
      request: { agentId: B.agent, keyId: B.keyId },
      outcome: notFound("AGENT_NOT_FOUND"),
    }),
    createApiKey: () => ({ request: { name: "a-ci", scopes: ["audit:read"] }, outcome: { ok: () => {} } }),
    listApiKeys: () => ({ request: {}, outcome: { ok: noneOf("keys", () => [B.apiKeyId]) } }),
    revokeApiKey: () => ({ request: { id: B.apiKeyId }, outcome: notFound("API_KEY_NOT_FOUND") }),
    rotateApiKey: () => ({ request: { id: B.apiKeyId }, outcome: notFound("API_KEY_NOT_FOUND") }),
    setApiKeyRateLimit: () => ({
      request: { id: B.apiKeyId, rateLimit: { requestsPerSecond: 1, burst: 1 } },
      outcome: notFound("API_KEY_NOT_FOUND"),
    }),
    createUser: () => ({
      // The same username is A's own in A's org.
      request: { username: "shared-name", password: "another long passphrase", role: "viewer" },
      outcome: { ok: noneOf("user", () => [B.userId]) },
    }),
    listUsers: () => ({ request: {}, outcome: { ok: noneOf("users", () => [B.userId]) } }),
    setUserPassword: () => ({
      request: { userId: B.userId, password: "a brand new passphrase" },
      outcome: notFound("USER_NOT_FOUND"),
    }),
    deleteUser: () => ({ request: { userId: B.userId }, outcome: notFound("USER_NOT_FOUND") }),
    listSigningKeys: () => ({ request: {}, outcome: { ok: () => {} } }),
    putPolicy: () => ({ request: { document: A_POLICY }, outcome: { ok: () => {} } }),
    getPolicy: () => ({ request: { name: "b-private" }, outcome: notFound("POLICY_NOT_FOUND") }),
    listPolicies: () => ({ request: {}, outcome: { ok: noneOf("policies", () => ["b-private"]) } }),
    deletePolicy: () => ({ request: { name: "b-private" }, outcome: notFound("POLICY_NOT_FOUND") }),
    policyHistory: () => ({
      request: { name: "b-private" },
      outcome: { ok: (v) => expect(v.changes).toEqual([]) },
    }),
    validatePolicy: () => ({ request: { document: B_POLICY }, outcome: { ok: () => {} } }),
    testPolicy: () => ({
      request: {
        tests: `apiVersion: tessera.dev/v1
kind: PolicyTest
metadata: { name: t }
spec:
  cases:
    - name: b's rule is not ours
      subject: { id: x, tier: verified, roles: [] }
      scope: reports:read
      expect: deny
`,
      },
      outcome: { ok: (v) => expect(v).toMatchObject({ passed: 1, failed: 0 }) },
    }),
    bindServiceIdentity: () => ({
      request: { identity: B.identity },
      outcome: { refused: grpc.status.PERMISSION_DENIED, reason: "IDENTITY_OUTSIDE_NAMESPACE" },
    }),
    listServiceIdentities: () => ({
      request: {},
      outcome: { ok: (v) => expect(JSON.stringify(v)).not.toContain("b.example") },
    }),
    unbindServiceIdentity: () => ({
      request: { identity: B.identity },
      outcome: notFound("IDENTITY_NOT_FOUND"),
    }),
    // A trusting B is A's own decision: B's tokens may then be presented by A's callers, decided
    // by A's policies (test/e2e/org-trust.test.ts). Nothing of B's changes, B trusts no one.
    trustOrg: () => ({
      request: { orgId: f.other.orgId },
      outcome: { ok: (v) => expect(v).toMatchObject({ trusted: { orgId: f.other.orgId } }) },
    }),
    listTrustedOrgs: () => ({
      request: {},
      outcome: { ok: (v) => expect(v).toMatchObject({ orgs: [{ orgId: f.other.orgId }] }) },
    }),
    untrustOrg: () => ({ request: { orgId: f.other.orgId }, outcome: { ok: () => {} } }),
    // Issue #13: A's audit trail and decisions never show B's changes or decisions, even when
    // asked for B's agent by id.
    queryAudit: () => ({
      request: { limit: 1000 },
      outcome: { ok: noneOf("records", () => [B.agent, B.userId, B.apiKeyId, "b-private"]) },
    }),
    queryDecisions: () => ({
      request: { subjectId: B.agent, limit: 1000 },
      outcome: { ok: (v) => expect(v.records).toEqual([]) },
    }),
    // Last: it replaces A's own credentials (B's keep working, as the fingerprint shows).
    rotateOrgCredentials: () => ({ request: {}, outcome: { ok: () => {} } }),
  };

  const AUTH: Record<string, () => Case> = {
    authenticate: () => ({
      request: { credential: { case: "agentSecret", value: { agentId: B.agent, secret: "tas_wrong" } } },
      outcome: { refused: grpc.status.UNAUTHENTICATED, reason: "AGENT_SECRET_INVALID" },
    }),
    authorize: () => ({
      request: { subject: { case: "token", value: B.token }, scope: "reports:read" },
      headers: aKey(),
      outcome: { refused: grpc.status.UNAUTHENTICATED, reason: "TOKEN_ORG_MISMATCH" },
    }),
    authorizeBatch: () => ({
      request: { subject: { case: "token", value: B.token }, checks: [{ scope: "reports:read" }] },
      headers: aKey(),
      outcome: { refused: grpc.status.UNAUTHENTICATED, reason: "TOKEN_ORG_MISMATCH" },
    }),
    mintToken: () => ({
      request: { agentId: B.agent, scopes: ["reports:read"] },
      outcome: notFound("AGENT_NOT_FOUND"),
    }),
    getJwks: () => ({ request: {}, outcome: { ok: () => {} } }),
    refreshToken: () => ({
      // A refresh token is its own credential: A's headers add nothing to someone else's.
      request: { refreshToken: "trt_not-b-s" },
      outcome: { refused: grpc.status.UNAUTHENTICATED, reason: "REFRESH_TOKEN_INVALID" },
    }),
    revokeToken: () => ({
      // RFC 7009: answered OK, and changes nothing (the fingerprint shows B's token still works);
      // not recognized as a token of A's.
      request: { token: B.token },
      headers: aKey(),
      outcome: { ok: (v) => expect(v).toMatchObject({ recognized: false }) },
    }),
    introspectToken: () => ({
      request: { token: B.token },
      headers: aKey(),
      outcome: { ok: (v) => expect(v).toMatchObject({ active: false }) },
    }),
    logout: () => ({
      request: {},
      outcome: { refused: grpc.status.UNAUTHENTICATED, reason: "CREDENTIAL_MISSING" },
    }),
    whoAmI: () => ({
      request: {},
      headers: aKey(),
      outcome: { ok: (v) => expect(JSON.stringify(v)).not.toContain(f.other.orgId) },
    }),
    getServerStatus: () => ({
      request: {},
      headers: aKey(),
      outcome: { ok: (v) => expect(v.orgId).toBe(f.server.org.orgId) },
    }),
  };

  /** A deny CheckResponse (never a gRPC error, never an allow) with this status and reason. */
  const deniedCheck =
    (code: number, http: HttpCode, reason: string) =>
    (v: Record<string, unknown>): void =>
      expect(checkSummary(v)).toEqual({ code, http, reason });

  /** envoy.service.auth.v3.Authorization: A's proxy (A's API key) asking about B's subjects. */
  const EXT_AUTHZ: Record<string, () => Case[]> = {
    check: () => [
      {
        // B's token, checked for A's proxy: refused before any policy (A's or B's, both allow).
        request: checkOf({ authorization: `Bearer ${B.token}` }),
        headers: aKey(),
        outcome: { ok: deniedCheck(16, HttpCode.Unauthorized, "TOKEN_ORG_MISMATCH") },
      },
      {
        // The same with A's admin pair, and with B's own API key inside the checked request:
        // the checked request's headers are never the caller's credential.
        request: checkOf({ authorization: `Bearer ${B.token}`, "x-api-key": b["x-api-key"] ?? "" }),
        outcome: { ok: deniedCheck(16, HttpCode.Unauthorized, "TOKEN_ORG_MISMATCH") },
      },
      {
        // B's bound SPIFFE ID as the downstream's principal names no subject for A's proxy.
        request: checkOf({}, B.identity),
        headers: aKey(),
        outcome: { ok: deniedCheck(16, HttpCode.Unauthorized, "SUBJECT_MISSING") },
      },
    ],
  };

  function expectOutcome(res: CallResult<unknown>, outcome: Outcome): void {
    if ("refused" in outcome) {
      expectFailure(res, outcome.refused, outcome.reason);
      return;
    }
    outcome.ok(expectOk(res) as Record<string, unknown>);
  }

  it("has a case for every method of AuthService, AdminService and Envoy's Authorization", () => {
    expect(Object.keys(AUTH).sort()).toEqual(AuthService.methods.map((m) => m.localName).sort());
    expect(Object.keys(ADMIN).sort()).toEqual(AdminService.methods.map((m) => m.localName).sort());
    expect(Object.keys(EXT_AUTHZ).sort()).toEqual(Authorization.methods.map((m) => m.localName).sort());
  });

  it("sweeps every service the gRPC port serves (as grpc.health.v1 lists them)", async () => {
    const listed = Object.keys(expectOk(await f.c.health.call("list", {})).statuses).filter((s) => s !== "");
    const swept = [AuthService, AdminService, SystemService, Authorization].map((s) => s.typeName);
    expect(listed.sort()).toEqual(swept.sort());
  });

  it("refuses, or keeps to org A, every AuthService call about org B's objects", async () => {
    for (const [method, make] of Object.entries(AUTH)) {
      const c = make();
      const res = await f.c.auth.call(method as never, c.request as never, c.headers ?? a);
      expectOutcome(res as CallResult<unknown>, c.outcome);
    }
  });

  it("denies every ext_authz Check by org A's proxy about org B's token or service identity", async () => {
    // The route is live for A's proxy: A's own token is allowed.
    const own = expectOk(await envoy.call("check", checkOf({ authorization: `Bearer ${A.token}` }), aKey()));
    expect(checkSummary(own as never)).toEqual({ code: 0, http: 200, reason: "" });
    for (const [method, make] of Object.entries(EXT_AUTHZ)) {
      for (const [i, c] of make().entries()) {
        const res = await envoy.call(method as never, c.request as never, c.headers ?? a);
        try {
          expectOutcome(res as CallResult<unknown>, c.outcome);
        } catch (err) {
          throw new Error(`${method} #${i}: ${(err as Error).message}`);
        }
      }
    }
  });

  it("refuses, or keeps to org A, every AdminService call about org B's objects", async () => {
    for (const [method, make] of Object.entries(ADMIN)) {
      const c = make();
      const res = await f.c.admin.call(method as never, c.request as never, c.headers ?? a);
      try {
        expectOutcome(res as CallResult<unknown>, c.outcome);
      } catch (err) {
        throw new Error(`${method}: ${(err as Error).message}`);
      }
    }
  });

  it("refuses every SystemService call made with an org's credentials", async () => {
    for (const m of SystemService.methods) {
      const res = await system.call(m.localName as never, {} as never, a);
      expectFailure(res as CallResult<unknown>, grpc.status.PERMISSION_DENIED, "OPERATOR_REQUIRED");
    }
  });

  it("leaves org B exactly as it was, its token and session still working", async () => {
    const after = (await fingerprint()) as {
      decision: Decision;
      sessionActive: boolean;
      checkToken: unknown;
      checkService: unknown;
    };
    expect(after).toEqual(fingerprintBefore);
    expect(after.decision).toBe(Decision.ALLOW);
    expect(after.sessionActive).toBe(true);
    // B's own proxy is allowed what A's was denied: the sweep's denies are about the org, not the route.
    expect(after.checkToken).toEqual({ code: 0, http: 200, reason: "" });
    expect(after.checkService).toEqual({ code: 0, http: 200, reason: "" });
  });
});
