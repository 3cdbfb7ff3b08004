import * as http from "node:http";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { databasePath } from "../../src/store/db.js";
import { adminHeaders, tamperPayload } from "../helpers/e2e.js";
import { type ForwardFixture, startForwardFixture } from "../helpers/forward-auth.js";

/*
 * Issue #12: forward auth on the HTTP port (nginx auth_request, Traefik ForwardAuth, Caddy
 * forward_auth), over real HTTP against a real server. Assertions are on statuses, reasons and
 * headers, never on messages. test/e2e/forward-auth-nginx.test.ts puts a real nginx in front.
 */

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown>;
}

/** The original request in Traefik's and Caddy's headers. */
const traefik = (method: string, uri: string, host?: string) => ({
  "x-forwarded-method": method,
  "x-forwarded-uri": uri,
  ...(host ? { "x-forwarded-host": host } : {}),
});

/** The original request as the usual nginx configuration sends it. */
const nginx = (method: string, uri: string) => ({ "x-original-method": method, "x-original-uri": uri });

describe("forward auth on the HTTP port", { timeout: 60_000 }, () => {
  let f: ForwardFixture;
  let proxyKey: Record<string, string>;

  async function ask(
    headers: Record<string, string> | Headers,
    method = "GET",
    path = "/v1/forward-auth",
  ): Promise<Reply> {
    const res = await fetch(`${f.base}${path}`, { method, headers, signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : {} };
  }

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const outcome = (r: Reply) => ({ status: r.status, reason: r.body.reason });

  beforeAll(async () => {
    f = await startForwardFixture();
    proxyKey = { "x-api-key": f.server.org.apiKey };
  }, 60_000);

  afterAll(async () => {
    await f?.server.stop();
  });

  describe.each([
    ["X-Forwarded-* (Traefik, Caddy)", traefik],
    ["X-Original-* (nginx)", nginx],
  ])("with %s", (_name, family) => {
    it("ALLOW: 200 with X-Tessera-Decision-Id, -Principal and -Scope", async () => {
      const r = await ask({ ...proxyKey, ...bearer(f.tokenA), ...family("GET", "/todos/42?full=1") });
      expect(outcome(r)).toEqual({ status: 200, reason: "ALLOWED_BY_RULE" });
      expect(r.headers.get("x-tessera-principal")).toBe(f.agentA);
      expect(r.headers.get("x-tessera-scope")).toBe("todos:read");
      expect(r.headers.get("x-tessera-decision-id")).toBe(r.body.decision_id);
    });

    it("DENY: 403 with the reason and the decision id", async () => {
      const r = await ask({ ...proxyKey, ...bearer(f.tokenA), ...family("PUT", "/todos/42") });
      expect(outcome(r)).toEqual({ status: 403, reason: "NO_MATCHING_RULE" });
      expect(r.body.decision_id).toEqual(expect.any(String));
      expect(r.headers.get("x-tessera-principal")).toBeNull();
    });

    it("NO_ROUTE: a request no route matches gets the maps' default, deny", async () => {
      for (const uri of ["/admin", "/todos/42/extra", "/todos/%2e%2e/admin", "/todos;x", "todos"]) {
        const r = await ask({ ...proxyKey, ...bearer(f.tokenA), ...family("GET", uri) });
        expect({ uri, ...outcome(r) }).toEqual({ uri, status: 403, reason: "NO_ROUTE" });
      }
    });

    it("no token: 401 CREDENTIAL_MISSING with WWW-Authenticate: Bearer", async () => {
      const r = await ask({ ...proxyKey, ...family("GET", "/todos") });
      expect(outcome(r)).toEqual({ status: 401, reason: "CREDENTIAL_MISSING" });
      expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/);
    });

    it("an invalid token: 401 with the verifier's reason and error=invalid_token", async () => {
      const r = await ask({ ...proxyKey, ...bearer(tamperPayload(f.tokenA)), ...family("GET", "/todos") });
      expect(r.status).toBe(401);
      expect(r.body.reason).toMatch(/^TOKEN_/);
      expect(r.headers.get("www-authenticate")).toMatch(/^Bearer .*error="invalid_token"/);
    });
  });

  describe("exactly Traefik's ForwardAuth request (authRequestHeaders: [Authorization])", () => {
    /**
     * What Traefik's ForwardAuth sends (pkg/middlewares/auth/forward.go, trustForwardHeader off):
     * a GET from Go's HTTP client (Host, User-Agent, Accept-Encoding), the client's Authorization
     * (the one header authRequestHeaders lets through), and the five X-Forwarded-* it sets. No
     * header of its own: its credential is a client certificate (forward-auth-mtls.test.ts), so
     * over plain HTTP the token is its own credential.
     */
    function traefikAsks(method: string, uri: string, token?: string) {
      const headers: Record<string, string> = {
        Host: `127.0.0.1:${f.server.httpPort}`,
        "User-Agent": "Go-http-client/1.1",
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        "X-Forwarded-For": "10.0.0.7",
        "X-Forwarded-Host": "todo.example.com",
        "X-Forwarded-Method": method,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Uri": uri,
        "Accept-Encoding": "gzip",
      };
      return new Promise<Reply>((resolve, reject) => {
        const req = http.request(
          {
            host: "127.0.0.1",
            port: f.server.httpPort,
            path: "/v1/forward-auth",
            method: "GET",
            headers,
            agent: false,
          },
          (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => {
              text += c;
            });
            res.on("end", () => {
              const h = new Headers();
              for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h.set(k, v);
              resolve({ status: res.statusCode ?? 0, headers: h, body: text ? JSON.parse(text) : {} });
            });
          },
        );
        req.on("error", reject);
        req.setTimeout(10_000, () => req.destroy(new Error("timeout")));
        req.end();
      });
    }

    it("ALLOW: 200 with the X-Tessera-* headers authResponseHeaders copies", async () => {
      const r = await traefikAsks("GET", "/todos/42?full=1", f.tokenA);
      expect(outcome(r)).toEqual({ status: 200, reason: "ALLOWED_BY_RULE" });
      expect(r.headers.get("x-tessera-principal")).toBe(f.agentA);
      expect(r.headers.get("x-tessera-scope")).toBe("todos:read");
      expect(r.headers.get("x-tessera-decision-id")).toBe(r.body.decision_id);
    });

    it("the original method is X-Forwarded-Method, not the auth request's GET: 403 for a PUT", async () => {
      const r = await traefikAsks("PUT", "/todos/42", f.tokenA);
      expect(outcome(r)).toEqual({ status: 403, reason: "NO_MATCHING_RULE" });
    });

    it("an unknown route: 403 NO_ROUTE; no Authorization: 401 CREDENTIAL_MISSING", async () => {
      expect(outcome(await traefikAsks("GET", "/admin", f.tokenA))).toEqual({
        status: 403,
        reason: "NO_ROUTE",
      });
      expect(outcome(await traefikAsks("GET", "/todos"))).toEqual({
        status: 401,
        reason: "CREDENTIAL_MISSING",
      });
    });
  });

  it("takes any method on the endpoint (nginx sends GET, Traefik the original method)", async () => {
    for (const method of ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
      const r = await ask({ ...proxyKey, ...bearer(f.tokenA), ...traefik("GET", "/todos") }, method);
      expect({ method, status: r.status }).toEqual({ method, status: 200 });
    }
    const head = await ask({ ...proxyKey, ...bearer(f.tokenA), ...traefik("GET", "/todos") }, "HEAD");
    expect(head.status).toBe(200);
    expect(head.headers.get("x-tessera-scope")).toBe("todos:list");
  });

  describe("whose policies decide", () => {
    it("a token of another org than the proxy's credential: 401 TOKEN_ORG_MISMATCH", async () => {
      const r = await ask({ ...proxyKey, ...bearer(f.tokenB), ...traefik("GET", "/todos") });
      expect(outcome(r)).toEqual({ status: 401, reason: "TOKEN_ORG_MISMATCH" });
    });

    it("with no proxy credential, the token's own org decides: org B's token never reaches org A's routes", async () => {
      // Org B has no RouteMap: NO_ROUTE there, whatever org A's maps say about /todos.
      const b = await ask({ ...bearer(f.tokenB), ...traefik("GET", "/todos") });
      expect(outcome(b)).toEqual({ status: 403, reason: "NO_ROUTE" });
      const a = await ask({ ...bearer(f.tokenA), ...traefik("GET", "/todos") });
      expect(outcome(a)).toEqual({ status: 200, reason: "ALLOWED_BY_RULE" });
    });

    it("a token of an org the proxy's org trusts: decided under the proxy's org's policies", async () => {
      await f.connect("tessera.v1.AdminService/TrustOrg", { orgId: f.orgB }, adminHeaders(f.server.org));
      try {
        // Org A's RouteMap and rules, about org B's agent (an operator): allowed, and logged as such.
        const r = await ask({ ...proxyKey, ...bearer(f.tokenB), ...traefik("GET", "/todos") });
        expect(outcome(r)).toEqual({ status: 200, reason: "ALLOWED_BY_RULE" });
        expect(r.headers.get("x-tessera-principal")).toBe(f.agentB);
      } finally {
        await f.connect("tessera.v1.AdminService/UntrustOrg", { orgId: f.orgB }, adminHeaders(f.server.org));
      }
      const after = await ask({ ...proxyKey, ...bearer(f.tokenB), ...traefik("GET", "/todos") });
      expect(after.status).toBe(401);
    });

    it("an API key sent as the bearer is no token, and never the proxy's credential", async () => {
      const r = await ask({ ...bearer(f.server.org.apiKey), ...traefik("GET", "/todos") });
      expect(r.status).toBe(401);
    });

    it("refuses a bad proxy credential (401) and a scoped key without decisions:evaluate (403)", async () => {
      const unknown = await ask({
        "x-api-key": `${f.server.org.apiKey.slice(0, -4)}AAAA`,
        ...bearer(f.tokenA),
        ...traefik("GET", "/todos"),
      });
      expect(unknown.status).toBe(401);
      const reader = (
        await f.connect(
          "tessera.v1.AdminService/CreateApiKey",
          { name: "reader", scopes: ["policies:read"] },
          adminHeaders(f.server.org),
        )
      ).apiKey as string;
      const r = await ask({ "x-api-key": reader, ...bearer(f.tokenA), ...traefik("GET", "/todos") });
      expect(outcome(r)).toEqual({ status: 403, reason: "API_KEY_SCOPE_MISSING" });
      const pep = (
        await f.connect(
          "tessera.v1.AdminService/CreateApiKey",
          { name: "proxy", scopes: ["decisions:evaluate"] },
          adminHeaders(f.server.org),
        )
      ).apiKey as string;
      const ok = await ask({ "x-api-key": pep, ...bearer(f.tokenA), ...traefik("GET", "/todos") });
      expect(outcome(ok)).toEqual({ status: 200, reason: "ALLOWED_BY_RULE" });
    });
  });

  describe("malformed and oversized headers: 4xx, never 5xx", () => {
    const good = () => ({ ...proxyKey, ...bearer(f.tokenA) });

    it.each([
      ["no method", { "x-forwarded-uri": "/todos" }, "x-forwarded-method"],
      ["no URI", { "x-forwarded-method": "GET" }, "x-forwarded-uri"],
      ["a method that is no token", traefik("GE T", "/todos"), "x-forwarded-method"],
      [
        "a URI with a control character",
        { ...traefik("GET", "/todos"), "x-forwarded-uri": "/to\tdos" },
        "x-forwarded-uri",
      ],
      ["a malformed host", traefik("GET", "/todos", "a b"), "x-forwarded-host"],
      [
        "families that disagree (a client adding the one its proxy does not set)",
        { ...nginx("PUT", "/todos/1"), "x-forwarded-uri": "/todos" },
        "x-original-uri",
      ],
      [
        "methods that disagree",
        { ...nginx("PUT", "/todos/1"), "x-forwarded-method": "GET" },
        "x-original-method",
      ],
    ])("%s: 400 REQUEST_MALFORMED", async (_name, headers, field) => {
      const r = await ask({ ...good(), ...headers });
      expect({ ...outcome(r), field: r.body.field }).toEqual({
        status: 400,
        reason: "REQUEST_MALFORMED",
        field,
      });
    });

    it("a header sent twice (joined by the server) is refused, never half-read", async () => {
      const h = new Headers({ ...good(), "x-forwarded-method": "GET" });
      h.append("x-forwarded-uri", "/todos");
      h.append("x-forwarded-uri", "/admin");
      expect(outcome(await ask(h))).toEqual({ status: 400, reason: "REQUEST_MALFORMED" });
    });

    it("families that agree are one request", async () => {
      const r = await ask({ ...good(), ...nginx("GET", "/todos"), ...traefik("GET", "/todos") });
      expect(r.status).toBe(200);
    });

    it.each([
      ["x-forwarded-uri", traefik("GET", `/todos/${"a".repeat(8 * 1024)}`)],
      ["x-original-uri", nginx("GET", `/todos/${"a".repeat(8 * 1024)}`)],
      ["x-forwarded-method", traefik("G".repeat(33), "/todos")],
      ["x-forwarded-host", traefik("GET", "/todos", `${"h".repeat(300)}.example`)],
    ])("%s over its bound: 400 FIELD_TOO_LARGE", async (field, headers) => {
      const r = await ask({ ...good(), ...headers });
      expect({ ...outcome(r), field: r.body.field }).toEqual({
        status: 400,
        reason: "FIELD_TOO_LARGE",
        field,
      });
    });

    it("headers over Node's total bound: 431 from the transport", async () => {
      const r = await fetch(`${f.base}/v1/forward-auth`, {
        headers: { ...good(), ...traefik("GET", "/todos"), "x-padding": "p".repeat(20 * 1024) },
        signal: AbortSignal.timeout(10_000),
      });
      expect(r.status).toBe(431);
    });
  });

  it("routes on the forwarded host: a RouteMap for other hosts does not cover it", async () => {
    const other = `apiVersion: tessera.dev/v1
kind: RouteMap
metadata: { name: admin-api }
spec:
  hosts: ["admin.internal"]
  routes:
    - match: { method: GET, path: /stats }
      scope: todos:list
      resource: { kind: stats }
`;
    await f.connect("tessera.v1.AdminService/PutPolicy", { document: other }, adminHeaders(f.server.org));
    const on = await ask({
      ...proxyKey,
      ...bearer(f.tokenA),
      ...traefik("GET", "/stats", "Admin.Internal:443"),
    });
    expect(outcome(on)).toEqual({ status: 200, reason: "ALLOWED_BY_RULE" });
    const off = await ask({ ...proxyKey, ...bearer(f.tokenA), ...traefik("GET", "/stats", "todo.internal") });
    expect(outcome(off)).toEqual({ status: 403, reason: "NO_ROUTE" });
  });

  it("a refusal writes nothing: after refusals, one decision adds exactly one row", async () => {
    const db = new Database(databasePath(f.server.dataDir), { readonly: true });
    const count = () => db.prepare<[], { n: number }>("SELECT count(*) AS n FROM decision_log").get()?.n ?? 0;
    const logged = (id: unknown) =>
      db.prepare("SELECT 1 FROM decision_log WHERE id = ?").get(String(id)) !== undefined;
    try {
      const marker = await ask({ ...proxyKey, ...bearer(f.tokenA), ...traefik("GET", "/todos") });
      await vi.waitFor(() => expect(logged(marker.body.decision_id)).toBe(true), {
        timeout: 10_000,
        interval: 100,
      });
      const before = count();
      const refused = [
        await ask({ ...proxyKey, ...traefik("GET", "/todos") }),
        await ask({ ...proxyKey, ...bearer(f.tokenB), ...traefik("GET", "/todos") }),
        await ask({ ...proxyKey, ...bearer(f.tokenA), "x-forwarded-uri": "/todos" }),
        await ask({
          ...proxyKey,
          ...bearer(f.tokenA),
          ...nginx("GET", "/admin"),
          "x-forwarded-uri": "/todos",
        }),
      ];
      expect(refused.map((r) => r.status)).toEqual([401, 401, 400, 400]);
      const last = await ask({ ...proxyKey, ...bearer(f.tokenA), ...traefik("GET", "/todos") });
      await vi.waitFor(() => expect(logged(last.body.decision_id)).toBe(true), {
        timeout: 10_000,
        interval: 100,
      });
      expect(count()).toBe(before + 1);
    } finally {
      db.close();
    }
  });

  it("logs each decision like Authorize: the proxy as caller, the route's scope and resource", async () => {
    const allow = await ask({ ...proxyKey, ...bearer(f.tokenA), ...nginx("GET", "/todos/7") });
    const none = await ask({ ...bearer(f.tokenA), ...nginx("GET", "/nowhere") });
    const db = new Database(databasePath(f.server.dataDir), { readonly: true });
    const row = (id: unknown) =>
      db
        .prepare<[string], Record<string, unknown>>(
          "SELECT caller, subject_id, scope, resource_kind, resource_id, allowed, reason FROM decision_log WHERE id = ?",
        )
        .get(String(id));
    try {
      await vi.waitFor(
        () => {
          expect(row(allow.body.decision_id)).toMatchObject({
            subject_id: f.agentA,
            scope: "todos:read",
            resource_kind: "todo",
            resource_id: "7",
            allowed: 1,
            reason: "ALLOWED_BY_RULE",
          });
          expect(row(allow.body.decision_id)?.caller).toMatch(/^api_key:/);
          expect(row(none.body.decision_id)).toMatchObject({
            caller: "anonymous",
            subject_id: f.agentA,
            scope: "",
            allowed: 0,
            reason: "NO_ROUTE",
          });
        },
        { timeout: 10_000, interval: 100 },
      );
    } finally {
      db.close();
    }
  });
});
