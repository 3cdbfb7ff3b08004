import { writeFileSync } from "node:fs";
import * as https from "node:https";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createDevCa, type DevCa, type PemPair } from "../../src/auth/dev-certs.js";
import { databasePath } from "../../src/store/db.js";
import { adminHeaders } from "../helpers/e2e.js";
import { type ForwardFixture, type Post, startForwardFixture } from "../helpers/forward-auth.js";
import { createOperatorToken, tempDir } from "../helpers/server.js";

/*
 * Issue #12: the forward-auth proxy's credential is its mTLS client certificate (a service
 * identity bound to an org) instead of an x-api-key header; Traefik's ForwardAuth, which adds no
 * header of its own, has only this one. The HTTP port serves HTTPS with a client CA; the proxy is
 * played by Node's https client presenting a certificate, sending Traefik's X-Forwarded-* shape.
 */

const PROXY_A = "spiffe://a.example/proxy";
const PROXY_B = "spiffe://b.example/proxy";

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Record<string, unknown>;
}

describe("forward auth with the proxy's mTLS identity as its credential", { timeout: 60_000 }, () => {
  let ca: DevCa;
  let tmp: ReturnType<typeof tempDir>;
  let f: ForwardFixture;
  let port = 0;
  const certs: Record<"a" | "b" | "unbound" | "foreign", PemPair> = {} as never;

  /** One HTTP/1.1 request over TLS (no keep-alive), trusting the dev CA, presenting `client` if given. */
  function request(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: string,
    client?: PemPair,
  ): Promise<{ status: number; headers: Reply["headers"]; text: string }> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: "127.0.0.1",
          port,
          path,
          method,
          headers,
          ca: ca.cert,
          servername: "localhost",
          agent: false,
          ...(client ? { cert: client.cert, key: client.key } : {}),
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => {
            text += c;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        },
      );
      req.on("error", reject);
      req.setTimeout(10_000, () => req.destroy(new Error("timeout")));
      req.end(body);
    });
  }

  /** The fixture's setup calls (API keys, no certificate); the first tells the port. */
  const post: Post = async (url, body, headers) => {
    port = Number(new URL(url).port);
    const r = await request("POST", new URL(url).pathname, headers, body);
    return { status: r.status, text: r.text };
  };

  /** The proxy asks, as Traefik does, about `method uri` for the agent's `token`. */
  async function ask(client: PemPair | undefined, token: string | undefined, method = "GET", uri = "/todos") {
    const r = await request(
      "GET",
      "/v1/forward-auth",
      {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        "x-forwarded-method": method,
        "x-forwarded-uri": uri,
        "x-forwarded-host": "todo.example.com",
        "x-forwarded-proto": "https",
        "x-forwarded-for": "10.0.0.7",
      },
      undefined,
      client,
    );
    const reply: Reply = { status: r.status, headers: r.headers, body: r.text ? JSON.parse(r.text) : {} };
    return reply;
  }
  const outcome = (r: Reply) => ({ status: r.status, reason: r.body.reason });

  beforeAll(async () => {
    tmp = tempDir("tessera-forward-mtls-");
    ca = await createDevCa();
    const pair = await ca.issueServer();
    const files = { "ca.pem": ca.cert, "server.pem": pair.cert, "server-key.pem": pair.key };
    for (const [name, pem] of Object.entries(files)) writeFileSync(join(tmp.dir, name), pem);
    const overrides = {
      tlsCert: join(tmp.dir, "server.pem"),
      tlsKey: join(tmp.dir, "server-key.pem"),
      tlsClientCa: join(tmp.dir, "ca.pem"),
    };
    f = await startForwardFixture({ overrides, post });
    const operator = { "x-operator-token": await createOperatorToken(f.server.dataDir) };
    const system = "tessera.v1.SystemService/AssignIdentityNamespace";
    await f.connect(system, { orgId: f.server.org.orgId, namespace: "spiffe://a.example/" }, operator);
    await f.connect(system, { orgId: f.orgB, namespace: "spiffe://b.example/" }, operator);
    const bind = "tessera.v1.AdminService/BindServiceIdentity";
    await f.connect(bind, { identity: PROXY_A }, adminHeaders(f.server.org));
    await f.connect(bind, { identity: PROXY_B }, f.bAdmin);
    certs.a = await ca.issueClient({ commonName: "proxy-a", spiffeId: PROXY_A });
    certs.b = await ca.issueClient({ commonName: "proxy-b", spiffeId: PROXY_B });
    // In org A's namespace, but bound to no org.
    certs.unbound = await ca.issueClient({ commonName: "stranger", spiffeId: "spiffe://a.example/stranger" });
    // Org A's proxy's SPIFFE ID, from a CA the server does not trust.
    certs.foreign = await (await createDevCa("Foreign CA")).issueClient({
      commonName: "proxy-a",
      spiffeId: PROXY_A,
    });
  }, 60_000);

  afterAll(async () => {
    await f?.server.stop();
    tmp?.cleanup();
  });

  it("a certificate bound to org A, with no x-api-key: org A decides about A's agent", async () => {
    const allow = await ask(certs.a, f.tokenA, "GET", "/todos/42");
    expect(outcome(allow)).toEqual({ status: 200, reason: "ALLOWED_BY_RULE" });
    expect(allow.headers["x-tessera-principal"]).toBe(f.agentA);
    expect(allow.headers["x-tessera-scope"]).toBe("todos:read");
    expect(outcome(await ask(certs.a, f.tokenA, "PUT", "/todos/42"))).toEqual({
      status: 403,
      reason: "NO_MATCHING_RULE",
    });
    expect(outcome(await ask(certs.a, f.tokenA, "GET", "/admin"))).toEqual({
      status: 403,
      reason: "NO_ROUTE",
    });
    // Logged with the proxy's identity as the caller.
    const db = new Database(databasePath(f.server.dataDir), { readonly: true });
    try {
      await vi.waitFor(
        () =>
          expect(
            db
              .prepare("SELECT caller, subject_id FROM decision_log WHERE id = ?")
              .get(String(allow.body.decision_id)),
          ).toEqual({ caller: `spiffe:${PROXY_A}`, subject_id: f.agentA }),
        { timeout: 10_000, interval: 100 },
      );
    } finally {
      db.close();
    }
  });

  it("a token of another org than the certificate's: 401 TOKEN_ORG_MISMATCH, either way round", async () => {
    expect(outcome(await ask(certs.a, f.tokenB))).toEqual({ status: 401, reason: "TOKEN_ORG_MISMATCH" });
    expect(outcome(await ask(certs.b, f.tokenA))).toEqual({ status: 401, reason: "TOKEN_ORG_MISMATCH" });
    // Org B's proxy about B's agent: B decides (B has no RouteMap: NO_ROUTE, not A's /todos rule).
    expect(outcome(await ask(certs.b, f.tokenB))).toEqual({ status: 403, reason: "NO_ROUTE" });
  });

  it("an unbound certificate, a foreign CA's, or none is no credential: the token's own org decides", async () => {
    for (const [name, client] of [
      ["unbound", certs.unbound],
      ["foreign CA", certs.foreign],
      ["no certificate", undefined],
    ] as const) {
      // Were the certificate org A's credential, B's token would be TOKEN_ORG_MISMATCH.
      const b = await ask(client, f.tokenB);
      expect({ name, ...outcome(b) }).toEqual({ name, status: 403, reason: "NO_ROUTE" });
      const a = await ask(client, f.tokenA);
      expect({ name, ...outcome(a) }).toEqual({ name, status: 200, reason: "ALLOWED_BY_RULE" });
    }
  });

  it("a token of an org the certificate's org trusts is decided under the certificate's org's policies", async () => {
    await f.connect("tessera.v1.AdminService/TrustOrg", { orgId: f.orgB }, adminHeaders(f.server.org));
    try {
      const r = await ask(certs.a, f.tokenB, "GET", "/todos/7");
      expect(outcome(r)).toEqual({ status: 200, reason: "ALLOWED_BY_RULE" });
      expect(r.headers["x-tessera-principal"]).toBe(f.agentB);
    } finally {
      await f.connect("tessera.v1.AdminService/UntrustOrg", { orgId: f.orgB }, adminHeaders(f.server.org));
    }
    expect(outcome(await ask(certs.a, f.tokenB))).toEqual({ status: 401, reason: "TOKEN_ORG_MISMATCH" });
  });

  it("once unbound, the certificate is no credential any more", async () => {
    await f.connect("tessera.v1.AdminService/UnbindServiceIdentity", { identity: PROXY_B }, f.bAdmin);
    expect(outcome(await ask(certs.b, f.tokenA))).toEqual({ status: 200, reason: "ALLOWED_BY_RULE" });
  });
});
