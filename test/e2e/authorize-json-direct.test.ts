import * as http from "node:http";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { directPathStats } from "../../src/transport/authorize-json.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/*
 * Issue #15: Authorize's Connect JSON of the usual shape is served by a direct path
 * (src/transport/authorize-json.ts) before the Connect router. Every request here is sent twice
 * to one real server: as `application/json` (the direct path takes what it can) and as
 * `application/json; charset=utf-8` (the direct path never takes it: the router answers). The two
 * answers must be the same: status, every header but Date, and the body (decision ids aside).
 */

const AUTHORIZE = "/tessera.v1.AuthService/Authorize";
const ORIGIN = "https://app.example.com";

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

function post(port: number, body: string, headers: Record<string, string>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        path: AUTHORIZE,
        method: "POST",
        headers: { "content-length": String(Buffer.byteLength(body)), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** What must be equal: status, headers but Date, body with the decision id blanked. */
function comparable(r: Reply) {
  const { date: _date, ...headers } = r.headers;
  return { status: r.status, headers, body: r.body.replace(/"decisionId":"[^"]*"/, '"decisionId":"-"') };
}

let seq = 0;
/** The same request through both paths; returns both answers and whether the direct path took it. */
async function both(port: number, body: string, headers: Record<string, string>) {
  const id = `req-${++seq}`;
  const before = directPathStats.served;
  const direct = await post(port, body, {
    "content-type": "application/json",
    "x-request-id": id,
    ...headers,
  });
  const took = directPathStats.served - before;
  const router = await post(port, body, {
    "content-type": "application/json; charset=utf-8",
    "x-request-id": id,
    ...headers,
  });
  expect(directPathStats.served - before).toBe(took); // the router's request never takes it
  return { direct: comparable(direct), router: comparable(router), took: took === 1 };
}

const attrs = (extra: object = {}) =>
  JSON.stringify({
    attributes: { id: "agent_abc123", tier: "TIER_VERIFIED", roles: ["operator"] },
    scope: "governance:propose",
    resource: { kind: "tool", id: "t1", attr: { env: "staging" } },
    ...extra,
  });

describe("Authorize Connect JSON: the direct path answers as the router does", () => {
  let server: TestServer;
  let key: Record<string, string>;
  beforeAll(async () => {
    server = await startTestServer({ corsOrigins: ORIGIN });
    key = { "x-api-key": server.org.apiKey };
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  // [name, body, extra headers, whether the direct path takes it]
  const cases: [string, () => string, () => Record<string, string>, boolean][] = [
    ["attributes subject", () => attrs(), () => key, true],
    ["CORS origin allowed", () => attrs(), () => ({ ...key, origin: ORIGIN }), true],
    ["CORS origin not allowed", () => attrs(), () => ({ ...key, origin: "https://evil.example" }), true],
    ["no API key", () => attrs(), () => ({}), true],
    ["wrong API key", () => attrs(), () => ({ "x-api-key": "tk_nope" }), true],
    ["bad token", () => JSON.stringify({ token: "a.b.c", scope: "x:y" }), () => ({}), true],
    ["empty object", () => "{}", () => key, true],
    ["scope over the field limit", () => attrs({ scope: "s".repeat(5000) }), () => key, true],
    ["unknown tier name", () => attrs({ attributes: { tier: "TIER_NOPE" } }), () => key, false],
    ["tier alias", () => attrs({ attributes: { id: "a", tier: "verified" } }), () => key, false],
    ["unknown field", () => attrs({ nope: 1 }), () => key, false],
    [
      "snake_case name",
      () => JSON.stringify({ scope: "x:y", resource: { kind: "tool" }, explain: true }),
      () => key,
      false,
    ],
    [
      "numeric resource attr",
      () => attrs({ resource: { kind: "tool", id: "t1", attr: { n: 1 } } }),
      () => key,
      false,
    ],
    ["token and attributes", () => attrs({ token: "a.b.c" }), () => key, false],
    ["malformed JSON", () => "{", () => key, false],
    ["not UTF-8", () => '"\udc00"', () => key, false],
    ["JSON array", () => "[]", () => key, false],
    ["null scope", () => attrs({ scope: null }), () => key, false],
    ["accept-encoding", () => attrs(), () => ({ ...key, "accept-encoding": "gzip" }), false],
    ["connect-timeout-ms", () => attrs(), () => ({ ...key, "connect-timeout-ms": "5000" }), false],
    ["over the message limit", () => attrs({ scope: "s".repeat(5 * 1024 * 1024) }), () => key, false],
  ];
  for (const [name, body, headers, takes] of cases) {
    it(name, async () => {
      const r = await both(server.httpPort, body(), headers());
      expect(r.took).toBe(takes);
      expect(r.direct).toEqual(r.router);
    });
  }

  it("hands conditions the same resource attributes and principal as the router (ALLOW and DENY)", async () => {
    await server.tessera.policies.put(
      server.org.orgId,
      `apiVersion: tessera.dev/v1
kind: Policy
metadata:
  name: attrs
spec:
  rules:
    - name: staging-only
      scopes: ["deploy:run"]
      resources: ["tool"]
      effect: allow
      condition: 'resource.attr.env == "staging" && principal.id == "agent_abc123" && "operator" in principal.roles'
`,
    );
    const ask = (env: string, id = "agent_abc123") =>
      JSON.stringify({
        attributes: { id, tier: "TIER_VERIFIED", roles: ["operator"] },
        scope: "deploy:run",
        resource: { kind: "tool", id: "t1", attr: { env } },
      });
    const decisions: string[] = [];
    for (const [env, id] of [
      ["staging", "agent_abc123"],
      ["prod", "agent_abc123"],
      ["staging", "agent_other"],
    ] as const) {
      const r = await both(server.httpPort, ask(env, id), key);
      expect(r.took).toBe(true);
      expect(r.direct).toEqual(r.router);
      decisions.push((JSON.parse(r.direct.body) as { decision: string }).decision);
    }
    expect(decisions).toEqual(["DECISION_ALLOW", "DECISION_DENY", "DECISION_DENY"]);
  });

  it("a client gone mid-body leaves the server answering", async () => {
    await new Promise<void>((resolve) => {
      const req = http.request({
        host: "127.0.0.1",
        port: server.httpPort,
        path: AUTHORIZE,
        method: "POST",
        headers: { "content-type": "application/json", "content-length": "100", ...key },
      });
      req.on("error", () => resolve());
      req.write('{"scope":');
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 50);
    });
    const r = await both(server.httpPort, attrs(), key);
    expect(r.took).toBe(true);
    expect(r.direct).toEqual(r.router);
  });

  it("any request of the known shape: the same answer (property)", async () => {
    const text = fc.string({ maxLength: 12 });
    const tier = fc.constantFrom(
      "TIER_UNSPECIFIED",
      "TIER_UNVERIFIED",
      "TIER_VERIFIED",
      "TIER_TRUSTED",
      "TIER_PRIVILEGED",
    );
    const request = fc.record(
      {
        attributes: fc.record(
          {
            id: text,
            tier,
            roles: fc.array(fc.constantFrom("operator", "viewer", "admin", "x"), { maxLength: 3 }),
          },
          { requiredKeys: [] },
        ),
        scope: fc.constantFrom("governance:propose", "governance:read", "audit:read", "secrets:x", ""),
        resource: fc.record(
          {
            kind: fc.constantFrom("tool", "doc", ""),
            id: text,
            attr: fc.dictionary(text, text, { maxKeys: 3 }),
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        const r = await both(server.httpPort, JSON.stringify(req), key);
        expect(r.took).toBe(!Object.keys(req.resource?.attr ?? {}).includes("__proto__"));
        expect(r.direct).toEqual(r.router);
      }),
      { numRuns: 60 },
    );
  }, 60_000);
});

describe("Authorize Connect JSON: rate limits are the router's on the direct path", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ rateLimitOrgRps: 1, rateLimitOrgBurst: 2 });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  it("a refused call is refused alike (status, retry-after, reason)", async () => {
    const key = { "x-api-key": server.org.apiKey };
    await both(server.httpPort, attrs(), key); // the burst spent
    const r = await both(server.httpPort, attrs(), key);
    expect(r.took).toBe(true);
    expect(r.direct.status).toBe(429);
    expect(r.direct).toEqual(r.router);
  });
});
