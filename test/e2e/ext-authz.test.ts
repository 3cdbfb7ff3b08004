import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HeaderValueOption_HeaderAppendAction as AppendAction } from "../../gen/envoy/config/core/v3/base_pb.js";
import { Authorization, type CheckResponse } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import { StatusCode as HttpCode } from "../../gen/envoy/type/v3/http_status_pb.js";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import { SystemService } from "../../gen/tessera/v1/system_service_pb.js";
import { IdentitySource, Tier } from "../../gen/tessera/v1/types_pb.js";
import { openStore } from "../../src/store/store.js";
import { adminHeaders, expectOk } from "../helpers/e2e.js";
import { grpcClient } from "../helpers/grpc-client.js";
import { type GrpcFixture, startGrpcFixture } from "../helpers/grpc-fixture.js";
import { createOperatorToken, startTestServer, tempDir } from "../helpers/server.js";

/*
 * Issue #12: Envoy ext_authz v3 on the gRPC port. A real grpc-js client plays Envoy (the Check
 * call carries the proxy's own credential as metadata) against a real server. Every answer about
 * the checked request is a CheckResponse: a refusal is a deny Envoy cannot take for an outage.
 */

const DOCS = `apiVersion: tessera.dev/v1
kind: RouteMap
metadata: { name: todo-api }
spec:
  hosts: ["todo.internal"]
  routes:
    - match: { method: GET, path: /todos }
      scope: todos:list
      resource: { kind: todo-list }
    - match: { method: DELETE, path: "/todos/{id}" }
      scope: todos:delete
      resource: { kind: todo, id: "{id}" }
    - match: { method: POST, path: /todos }
      scope: todos:create
      resource: { kind: todo-list }
  default: deny
---
apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: todos }
spec:
  rules:
    - { name: list, scopes: ["todos:list"], effect: allow, roles: [operator] }
    - name: gateway-creates
      scopes: ["todos:create"]
      effect: allow
      condition: 'principal.id == "spiffe://tessera.local/ns/web/sa/gateway" && principal.attr.type == "service"'
`;

const GATEWAY = "spiffe://tessera.local/ns/web/sa/gateway";

/** A Check as Envoy sends it: the request's method, host, path and headers, and its source. */
function check(method: string, path: string, headers: Record<string, string> = {}, principal = "") {
  return {
    attributes: {
      source: { principal },
      request: { http: { method, host: "todo.internal:8080", path, headers, scheme: "https", size: -1n } },
    },
  };
}

const denyBody = (r: CheckResponse) =>
  r.httpResponse.case === "deniedResponse"
    ? (JSON.parse(r.httpResponse.value.body) as Record<string, string>)
    : {};

/** The gRPC status code, the HTTP status Envoy answers the client with, and the reason. */
function summary(r: CheckResponse) {
  if (r.httpResponse.case === "okResponse") return { code: r.status?.code, http: 200, reason: "" };
  return {
    code: r.status?.code,
    http: r.httpResponse.value?.status?.code,
    reason: denyBody(r).reason,
  };
}

describe("Envoy ext_authz (envoy.service.auth.v3.Authorization/Check) on the gRPC port", () => {
  let f: GrpcFixture;
  let envoy: ReturnType<typeof grpcClient<typeof Authorization.method>>;
  let proxy: Record<string, string>;
  /** Planner's token for the Todo API: todos:list and todos:delete. */
  let token: string;
  const call = async (req: ReturnType<typeof check> | object, headers = proxy) =>
    expectOk(await envoy.call("check", req, headers));

  beforeAll(async () => {
    f = await startGrpcFixture();
    envoy = grpcClient(Authorization, f.address);
    // The proxy's own credential: the org's API key, as Envoy's initial_metadata sends it.
    proxy = { "x-api-key": f.server.org.apiKey };
    token = expectOk(
      await f.c.auth.call(
        "mintToken",
        { agentId: f.agentId, scopes: ["todos:list", "todos:delete"], ttl: { seconds: 600n } },
        f.admin,
      ),
    ).token;
    expectOk(await f.c.admin.call("putPolicy", { document: DOCS }, f.admin));
    const system = grpcClient(SystemService, f.address);
    const operator = { "x-operator-token": await createOperatorToken(f.server.dataDir) };
    expectOk(
      await system.call(
        "assignIdentityNamespace",
        { orgId: f.server.org.orgId, namespace: "spiffe://tessera.local/" },
        operator,
      ),
    );
    system.close();
    expectOk(
      await f.c.admin.call(
        "bindServiceIdentity",
        { identity: GATEWAY, source: IdentitySource.SPIFFE },
        f.admin,
      ),
    );
  });

  afterAll(async () => {
    envoy?.close();
    await f?.close();
  });

  it("allows a bearer token the policies allow: OK, the decision's headers, dynamic metadata", async () => {
    const r = await call(check("GET", "/todos?page=2", { authorization: `Bearer ${token}` }));
    expect(r.status?.code).toBe(0);
    expect(r.httpResponse.case).toBe("okResponse");
    const ok = r.httpResponse.case === "okResponse" ? r.httpResponse.value : undefined;
    const headers = Object.fromEntries(ok?.headers.map((h) => [h.header?.key, h.header?.value]) ?? []);
    expect(headers["x-tessera-principal"]).toBe(f.agentId);
    expect(headers["x-tessera-decision-id"]).toMatch(/^[0-9a-f-]{36}$/);
    // Set, not appended: a client cannot smuggle its own x-tessera-principal upstream.
    expect(ok?.headers.every((h) => h.appendAction === AppendAction.OVERWRITE_IF_EXISTS_OR_ADD)).toBe(true);
    expect(ok?.headersToRemove).toEqual([]);
    expect(r.dynamicMetadata).toMatchObject({
      decision: "ALLOW",
      reason: "ALLOWED_BY_RULE",
      rule: "todos/list",
      decision_id: headers["x-tessera-decision-id"],
    });
    expect(r.dynamicMetadata?.policy_revision).toBeGreaterThan(0);
  });

  it("denies what no rule allows: PERMISSION_DENIED, 403 with a JSON reason and decision id", async () => {
    const r = await call(check("DELETE", "/todos/42", { authorization: `Bearer ${token}` }));
    expect(summary(r)).toEqual({ code: 7, http: HttpCode.Forbidden, reason: "NO_MATCHING_RULE" });
    const denied = r.httpResponse.case === "deniedResponse" ? r.httpResponse.value : undefined;
    expect(denied?.headers.map((h) => [h.header?.key, h.header?.value])).toEqual([
      ["content-type", "application/json"],
    ]);
    expect(denyBody(r).decision_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.dynamicMetadata).toMatchObject({ decision: "DENY", decision_id: denyBody(r).decision_id });
  });

  it("takes a SPIFFE source principal bound to the caller's org as the subject", async () => {
    const r = await call(check("POST", "/todos", {}, GATEWAY));
    expect(summary(r)).toEqual({ code: 0, http: 200, reason: "" });
    const ok = r.httpResponse.case === "okResponse" ? r.httpResponse.value : undefined;
    expect(ok?.headers.find((h) => h.header?.key === "x-tessera-principal")?.header?.value).toBe(GATEWAY);
    expect(r.dynamicMetadata).toMatchObject({ rule: "todos/gateway-creates" });
  });

  it("answers 401 SUBJECT_MISSING without a bearer token or a bound source principal", async () => {
    expect(summary(await call(check("GET", "/todos")))).toEqual({
      code: 16,
      http: HttpCode.Unauthorized,
      reason: "SUBJECT_MISSING",
    });
    // A principal bound to no org (or another org) names no subject either.
    const unbound = await call(check("POST", "/todos", {}, "spiffe://tessera.local/ns/web/sa/other"));
    expect(summary(unbound).reason).toBe("SUBJECT_MISSING");
    // Org A's bound identity names no subject for org B's proxy.
    const elsewhere = await call(check("POST", "/todos", {}, GATEWAY), { "x-api-key": f.other.apiKey });
    expect(summary(elsewhere).reason).toBe("SUBJECT_MISSING");
    // Another scheme than Bearer is no Tessera token.
    expect(summary(await call(check("GET", "/todos", { authorization: "Basic dXNlcjpwdw==" }))).reason).toBe(
      "SUBJECT_MISSING",
    );
  });

  it("denies a request no route matches with NO_ROUTE (the RouteMap's default)", async () => {
    const r = await call(check("GET", "/admin/users", { authorization: `Bearer ${token}` }));
    expect(summary(r)).toEqual({ code: 7, http: HttpCode.Forbidden, reason: "NO_ROUTE" });
    expect(r.dynamicMetadata).toMatchObject({ decision: "DENY", reason: "NO_ROUTE", rule: "" });
  });

  it.each([
    ["no attributes", {}],
    ["no http request", { attributes: { request: {} } }],
    ["no method", check("", "/todos")],
    ["no path", check("GET", "")],
  ])("denies a malformed check (%s) with 400 REQUEST_MALFORMED, never a gRPC error", async (_, req) => {
    expect(summary(await call(req))).toEqual({
      code: 3,
      http: HttpCode.BadRequest,
      reason: "REQUEST_MALFORMED",
    });
  });

  it.each([
    ["path", check("GET", `/${"a".repeat(8 * 1024)}`)],
    ["header value", check("GET", "/todos", { "x-big": "b".repeat(16 * 1024 + 1) })],
    ["principal", check("GET", "/todos", {}, `spiffe://x/${"p".repeat(2048)}`)],
    ["method", check("G".repeat(33), "/todos")],
  ])("denies an oversized %s with 400 FIELD_TOO_LARGE, never a gRPC error", async (_, req) => {
    expect(summary(await call(req))).toEqual({
      code: 3,
      http: HttpCode.BadRequest,
      reason: "FIELD_TOO_LARGE",
    });
  });

  it("answers 401 CALLER_UNIDENTIFIED when the Check call carries no credential of its own", async () => {
    const r = await call(check("GET", "/todos", { authorization: `Bearer ${token}` }), {});
    expect(summary(r)).toEqual({ code: 16, http: HttpCode.Unauthorized, reason: "CALLER_UNIDENTIFIED" });
    // The checked request's own headers are never the caller's credential.
    const inRequest = await call(check("GET", "/todos", { "x-api-key": f.server.org.apiKey }), {});
    expect(summary(inRequest).reason).toBe("CALLER_UNIDENTIFIED");
  });

  it("answers 401 with the key's reason for an unknown API key", async () => {
    const r = await call(check("GET", "/todos", { authorization: `Bearer ${token}` }), {
      "x-api-key": "tsk_nope",
    });
    expect(summary(r).http).toBe(HttpCode.Unauthorized);
    expect(summary(r).reason).toMatch(/^API_KEY_/);
  });

  it("refuses another org's token (TOKEN_ORG_MISMATCH) unless the caller's org trusts it", async () => {
    const theirs = expectOk(
      await f.c.auth.call(
        "mintToken",
        { agentId: f.otherAgentId, scopes: ["todos:list"], ttl: { seconds: 600n } },
        adminHeaders(f.other),
      ),
    );
    const r = await call(check("GET", "/todos", { authorization: `Bearer ${theirs.token}` }));
    expect(summary(r)).toEqual({ code: 16, http: HttpCode.Unauthorized, reason: "TOKEN_ORG_MISMATCH" });
    // Org B's proxy asking about the same token decides under org B's policies (no RouteMap: NO_ROUTE).
    const b = await call(check("GET", "/todos", { authorization: `Bearer ${theirs.token}` }), {
      "x-api-key": f.other.apiKey,
    });
    expect(summary(b).reason).toBe("NO_ROUTE");
  });

  it("denies a malformed and a revoked token with 401 and the token's reason", async () => {
    expect(summary(await call(check("GET", "/todos", { authorization: "Bearer not.a.jwt" }))).http).toBe(
      HttpCode.Unauthorized,
    );
    // A Bearer header with no single token is refused, never read as no token at all.
    const joined = check("POST", "/todos", { authorization: `Bearer ${token},Bearer x` }, GATEWAY);
    expect(summary(await call(joined))).toEqual({
      code: 16,
      http: HttpCode.Unauthorized,
      reason: "TOKEN_MALFORMED",
    });
    const minted = expectOk(
      await f.c.auth.call(
        "mintToken",
        { agentId: f.agentId, scopes: ["todos:list"], ttl: { seconds: 600n }, tier: Tier.VERIFIED },
        f.admin,
      ),
    );
    const bearer = { authorization: `Bearer ${minted.token}` };
    expect(summary(await call(check("GET", "/todos", bearer))).code).toBe(0);
    expectOk(await f.c.auth.call("revokeToken", { token: minted.token }, f.admin));
    expect(summary(await call(check("GET", "/todos", bearer)))).toEqual({
      code: 16,
      http: HttpCode.Unauthorized,
      reason: "TOKEN_REVOKED",
    });
  });
});

describe("ext_authz decisions are logged like Authorize's", () => {
  it("records the routed scope and resource, the subject and the proxy as the caller", async () => {
    const data = tempDir();
    const server = await startTestServer({}, data.dir);
    const address = `127.0.0.1:${server.grpcPort}`;
    const [admin, auth, envoy] = [
      grpcClient(AdminService, address),
      grpcClient(AuthService, address),
      grpcClient(Authorization, address),
    ];
    const headers = adminHeaders(server.org);
    const proxy = { "x-api-key": server.org.apiKey };
    try {
      expectOk(await admin.call("putPolicy", { document: DOCS }, headers));
      const agent = expectOk(
        await admin.call("createAgent", { name: "lister", roles: ["operator"] }, headers),
      );
      const agentId = agent.agent?.id ?? "";
      const { token } = expectOk(
        await auth.call("mintToken", { agentId, scopes: ["todos:list"], ttl: { seconds: 600n } }, headers),
      );
      const bearer = { authorization: `Bearer ${token}` };
      const allowed = expectOk(await envoy.call("check", check("GET", "/todos", bearer), proxy));
      const unrouted = expectOk(await envoy.call("check", check("GET", "/nowhere", bearer), proxy));
      const ids = [allowed, unrouted].map((r) => r.dynamicMetadata?.decision_id as string);
      for (const c of [admin, auth, envoy]) c.close();
      await server.stop({ keepData: true });
      const store = openStore(data.dir);
      try {
        const logged = store.decisions.recent(server.org.orgId, 100);
        expect(logged.find((r) => r.id === ids[0])).toMatchObject({
          subjectId: agentId,
          scope: "todos:list",
          resourceKind: "todo-list",
          allowed: true,
          rule: "todos/list",
        });
        expect(logged.find((r) => r.id === ids[0])?.caller).toMatch(/^api_key:/);
        expect(logged.find((r) => r.id === ids[1])).toMatchObject({
          subjectId: agentId,
          scope: "",
          allowed: false,
          reason: "NO_ROUTE",
        });
      } finally {
        void store.close();
      }
    } finally {
      for (const c of [admin, auth, envoy]) c.close();
      await server.stop().catch(() => {});
      data.cleanup();
    }
  });
});
