import { writeFileSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDevCa } from "../../src/auth/dev-certs.js";
import {
  CORS_ALLOWED_HEADERS,
  CORS_EXPOSED_HEADERS,
  CORS_MAX_AGE_SECONDS,
} from "../../src/transport/cors.js";
import { startTestServer, type TestServer, tempDir } from "../helpers/server.js";

/*
 * Issue #13, browsers and CORS: real preflights (OPTIONS with Origin and
 * Access-Control-Request-*) and real cross-origin requests against a real server, over HTTP/1.1
 * (plaintext) and HTTP/2 (TLS), on the Connect, AuthZEN, JWKS and forward-auth paths.
 */

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | undefined>;
  readonly body: string;
}

type Send = (method: string, path: string, headers: Record<string, string>, body?: string) => Promise<Reply>;

const APP = "https://app.example.com";
const DEV = "http://localhost:5173";
const ORIGINS = `${APP}, ${DEV}`;

const AUTHORIZE = "/tessera.v1.AuthService/Authorize";
const GET_JWKS = "/tessera.v1.AuthService/GetJwks";
const LIST_ORGS = "/tessera.v1.SystemService/ListOrgs";
const EVALUATION = "/access/v1/evaluation";
const FORWARD_AUTH = "/v1/forward-auth";

/** What a browser sends before a Connect JSON call with a credential. */
const connectPreflight = (origin: string) => ({
  origin,
  "access-control-request-method": "POST",
  "access-control-request-headers": "content-type,connect-protocol-version,connect-timeout-ms,x-api-key",
});

/** What a browser sends before a gRPC-Web call (Connect-Web's gRPC-Web transport). */
const grpcWebPreflight = (origin: string) => ({
  origin,
  "access-control-request-method": "POST",
  "access-control-request-headers": "authorization,content-type,grpc-timeout,x-grpc-web,x-user-agent",
});

const flatten = (h: http.IncomingHttpHeaders | http2.IncomingHttpHeaders) =>
  Object.fromEntries(
    Object.entries(h)
      .filter(([k]) => !k.startsWith(":"))
      .map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : v?.toString()]),
  );

/** One HTTP/1.1 request on a fresh connection. */
function h1(port: number): Send {
  return (method, path, headers, body) =>
    new Promise((resolve, reject) => {
      const req = http.request(
        { host: "127.0.0.1", port, method, path, headers, agent: false, timeout: 10_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: flatten(res.headers),
              body: Buffer.concat(chunks).toString(),
            }),
          );
        },
      );
      req.on("error", reject);
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.end(body);
    });
}

/** HTTP/2 requests over one TLS session (closed by `close`). */
function h2(port: number, ca: string): { send: Send; close: () => void } {
  const session = http2.connect(`https://localhost:${port}`, { ca });
  session.on("error", () => {});
  const send: Send = (method, path, headers, body) =>
    new Promise((resolve, reject) => {
      const stream = session.request({ ":method": method, ":path": path, ...headers });
      stream.setTimeout(10_000, () => stream.close(http2.constants.NGHTTP2_CANCEL));
      let status = 0;
      let got: Record<string, string | undefined> = {};
      const chunks: Buffer[] = [];
      stream.on("response", (h) => {
        status = Number(h[":status"]);
        got = flatten(h);
      });
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => resolve({ status, headers: got, body: Buffer.concat(chunks).toString() }));
      stream.on("error", reject);
      stream.end(body);
    });
  return { send, close: () => session.close() };
}

const list = (value: string | undefined) => (value ?? "").split(",").map((s) => s.trim().toLowerCase());

/** No header that would let a browser script read the answer. */
function expectNoAllowHeaders(r: Reply): void {
  expect(r.headers["access-control-allow-origin"]).toBeUndefined();
  expect(r.headers["access-control-allow-methods"]).toBeUndefined();
  expect(r.headers["access-control-allow-headers"]).toBeUndefined();
  expect(r.headers["access-control-expose-headers"]).toBeUndefined();
  expect(r.headers["access-control-allow-credentials"]).toBeUndefined();
}

/** A preflight the CORS layer granted to `origin`, for `requested` headers. */
function expectGranted(r: Reply, origin: string, requested: string): void {
  expect(r.status).toBe(204);
  expect(r.body).toBe("");
  expect(r.headers["access-control-allow-origin"]).toBe(origin);
  expect(list(r.headers["access-control-allow-methods"])).toEqual(["post", "get", "options"]);
  const allowed = list(r.headers["access-control-allow-headers"]);
  for (const h of requested.split(",")) expect(allowed, h).toContain(h);
  expect(r.headers["access-control-max-age"]).toBe(String(CORS_MAX_AGE_SECONDS));
  expect(list(r.headers.vary)).toContain("origin");
  // No cookies are used: credentials mode is never granted.
  expect(r.headers["access-control-allow-credentials"]).toBeUndefined();
}

/** The preflight cases, the same over HTTP/1.1 and HTTP/2. */
function preflightCases(send: () => Send): void {
  it.each([AUTHORIZE, LIST_ORGS, GET_JWKS])(
    "grants a listed origin's Connect preflight for %s",
    async (path) => {
      const req = connectPreflight(APP);
      expectGranted(await send()("OPTIONS", path, req), APP, req["access-control-request-headers"]);
    },
  );

  it("grants a gRPC-Web preflight (x-grpc-web, x-user-agent, grpc-timeout, authorization)", async () => {
    const req = grpcWebPreflight(DEV);
    expectGranted(await send()("OPTIONS", AUTHORIZE, req), DEV, req["access-control-request-headers"]);
  });

  it("grants a listed origin's preflight for the AuthZEN evaluation endpoint", async () => {
    const req = {
      origin: APP,
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization,content-type,x-request-id",
    };
    expectGranted(await send()("OPTIONS", EVALUATION, req), APP, req["access-control-request-headers"]);
  });

  it.each([
    "https://app.example.com.attacker.net",
    "https://evil.example.com",
    "http://app.example.com",
    "https://app.example.com:8443",
    "null",
  ])("refuses the preflight of %s with 403 and no allow headers", async (origin) => {
    for (const path of [AUTHORIZE, EVALUATION]) {
      const r = await send()("OPTIONS", path, connectPreflight(origin));
      expect(r.status, path).toBe(403);
      expectNoAllowHeaders(r);
      expect(list(r.headers.vary)).toContain("origin");
    }
  });
}

describe("CORS on the HTTP port, with an allow-list", () => {
  let server: TestServer;
  let send: Send;

  beforeAll(async () => {
    server = await startTestServer({ corsOrigins: ORIGINS });
    send = h1(server.httpPort);
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  describe("preflights over HTTP/1.1", () => preflightCases(() => send));

  it("answers a preflight before authentication: no credential is needed, none is checked", async () => {
    // A preflight carries no credential; were it authenticated it would get a 401, and a
    // Connect handler answers OPTIONS with no 204.
    const r = await send("OPTIONS", "/tessera.v1.AdminService/CreateAgent", connectPreflight(APP));
    expect(r.status).toBe(204);
    expect(r.headers["tessera-reason"]).toBeUndefined();
  });

  it("gives a Connect JSON answer to a listed origin, echoing it and exposing the headers", async () => {
    const r = await send(
      "POST",
      GET_JWKS,
      { origin: APP, "content-type": "application/json", "connect-protocol-version": "1" },
      "{}",
    );
    expect(r.status).toBe(200);
    expect((JSON.parse(r.body) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
    expect(r.headers["access-control-allow-origin"]).toBe(APP);
    const exposed = list(r.headers["access-control-expose-headers"]);
    for (const h of [
      "grpc-status",
      "grpc-message",
      "grpc-status-details-bin",
      "tessera-reason",
      "x-request-id",
      "x-tessera-decision-id",
    ])
      expect(exposed, h).toContain(h);
    expect(list(r.headers.vary)).toContain("origin");
    expect(r.headers["access-control-allow-credentials"]).toBeUndefined();
  });

  it("lets a listed origin's script read a refusal's reason (the error carries the CORS headers)", async () => {
    const r = await send(
      "POST",
      "/tessera.v1.AuthService/WhoAmI",
      { origin: DEV, "content-type": "application/json", "x-api-key": "not-a-key" },
      "{}",
    );
    expect(r.status).toBe(401);
    expect(r.headers["tessera-reason"]).toBe("API_KEY_MALFORMED");
    expect(r.headers["access-control-allow-origin"]).toBe(DEV);
    expect(list(r.headers["access-control-expose-headers"])).toContain("tessera-reason");
  });

  it("answers an AuthZEN evaluation for a listed origin with the CORS headers", async () => {
    const r = await send(
      "POST",
      EVALUATION,
      {
        origin: APP,
        "content-type": "application/json",
        "x-api-key": server.org.apiKey,
        "x-request-id": "r-1",
      },
      JSON.stringify({
        subject: { type: "agent", id: "nobody" },
        action: { name: "read" },
        resource: { type: "doc", id: "1" },
      }),
    );
    expect(r.status).toBe(200);
    expect(r.headers["access-control-allow-origin"]).toBe(APP);
    expect(r.headers["x-request-id"]).toBe("r-1");
    expect(list(r.headers["access-control-expose-headers"])).toContain("x-request-id");
  });

  it("still serves a disallowed origin (CORS is for browsers to enforce) but with no allow headers", async () => {
    const r = await send(
      "POST",
      GET_JWKS,
      { origin: "https://app.example.com.attacker.net", "content-type": "application/json" },
      "{}",
    );
    expect(r.status).toBe(200);
    expectNoAllowHeaders(r);
    expect(list(r.headers.vary)).toContain("origin");
  });

  it("marks answers without an Origin as varying by it (a cache must not hand them to a browser)", async () => {
    const r = await send("GET", "/.well-known/jwks.json", {});
    expect(r.status).toBe(200);
    expectNoAllowHeaders(r);
    expect(list(r.headers.vary)).toContain("origin");
    const cross = await send("GET", "/.well-known/jwks.json", { origin: APP });
    expect(cross.headers["access-control-allow-origin"]).toBe(APP);
  });

  it("leaves forward auth alone: a proxy's OPTIONS with the browser's headers copied reaches it", async () => {
    // Traefik forwards the original method and headers: this is an auth request, not a
    // preflight, and forward auth answers it (no token: 401), with no CORS headers.
    const r = await send("OPTIONS", FORWARD_AUTH, {
      ...connectPreflight(APP),
      "x-forwarded-method": "OPTIONS",
      "x-forwarded-uri": "/api/things",
      "x-forwarded-host": "api.example.com",
    });
    expect(r.status).toBe(401);
    expectNoAllowHeaders(r);
  });

  it("sends no CORS headers on /healthz", async () => {
    const r = await send("GET", "/healthz", { origin: APP });
    expect(r.status).toBe(200);
    expectNoAllowHeaders(r);
  });

  it("lists the headers Connect and gRPC-Web need", () => {
    for (const h of [
      "content-type",
      "connect-protocol-version",
      "connect-timeout-ms",
      "grpc-timeout",
      "grpc-web",
      "x-grpc-web",
      "x-user-agent",
      "authorization",
      "x-api-key",
      "x-admin-token",
      "x-request-id",
    ])
      expect(CORS_ALLOWED_HEADERS).toContain(h);
    expect(CORS_EXPOSED_HEADERS).toContain("grpc-status");
  });
});

describe("CORS over HTTP/2 (TLS)", () => {
  let server: TestServer;
  let client: { send: Send; close: () => void };
  const certs = tempDir();

  beforeAll(async () => {
    const ca = await createDevCa();
    const pair = await ca.issueServer();
    const cert = join(certs.dir, "server.pem");
    const key = join(certs.dir, "server-key.pem");
    writeFileSync(cert, pair.cert);
    writeFileSync(key, pair.key);
    server = await startTestServer({ corsOrigins: ORIGINS, tlsCert: cert, tlsKey: key });
    client = h2(server.httpPort, ca.cert);
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await server?.stop();
    certs.cleanup();
  });

  describe("preflights", () => preflightCases(() => client.send));

  it("gives a Connect JSON answer to a listed origin, echoing it and exposing the headers", async () => {
    const r = await client.send(
      "POST",
      GET_JWKS,
      { origin: DEV, "content-type": "application/json", "connect-protocol-version": "1" },
      "{}",
    );
    expect(r.status).toBe(200);
    expect(r.headers["access-control-allow-origin"]).toBe(DEV);
    expect(list(r.headers["access-control-expose-headers"])).toContain("grpc-status");
    expect(list(r.headers["access-control-expose-headers"])).toContain("tessera-reason");
  });
});

describe("CORS with no allow-list (the default)", () => {
  let server: TestServer;
  let send: Send;

  beforeAll(async () => {
    server = await startTestServer();
    send = h1(server.httpPort);
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  it("refuses every preflight with 403 and no CORS headers", async () => {
    for (const path of [AUTHORIZE, EVALUATION]) {
      const r = await send("OPTIONS", path, connectPreflight(APP));
      expect(r.status, path).toBe(403);
      expectNoAllowHeaders(r);
      expect(r.headers.vary).toBeUndefined();
    }
  });

  it("serves a request with an Origin without any CORS header", async () => {
    const r = await send("POST", GET_JWKS, { origin: APP, "content-type": "application/json" }, "{}");
    expect(r.status).toBe(200);
    expectNoAllowHeaders(r);
    expect(r.headers.vary).toBeUndefined();
  });
});
