import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { AuthService, Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { generateSecret } from "../../src/auth/secrets.js";
import { adminHeaders, forgeClaims, tamperPayload } from "../helpers/e2e.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/** The body from the issue, byte for byte. */
const ATTRIBUTES_BODY =
  '{"attributes":{"id":"agent_abc123","tier":"TIER_VERIFIED","roles":["operator"]},"scope":"governance:propose","resource":{"kind":"tool","id":"t1","attr":{"env":"staging"}}}';
const tokenBody = (jwt: string) =>
  `{"token":"${jwt}","scope":"governance:propose","resource":{"kind":"tool","id":"t1"}}`;

interface JsonReply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** The reason of a Connect JSON error body: the ErrorInfo detail, decoded and as its debug JSON (which must agree). */
function reasonOf(body: Record<string, unknown>): string {
  const details = body.details as { type: string; value: string; debug?: { reason?: string } }[];
  const info = details.find((d) => d.type === "google.rpc.ErrorInfo");
  if (!info) throw new Error(`no ErrorInfo in ${JSON.stringify(body)}`);
  const decoded = fromBinary(ErrorInfoSchema, Buffer.from(info.value, "base64"));
  expect(info.debug?.reason).toBe(decoded.reason);
  expect(decoded.domain).toBe("tessera.dev");
  return decoded.reason;
}

describe("HTTP port: Connect protocol with JSON, JWKS and health", () => {
  let server: TestServer;
  let base: string;
  let admin: Record<string, string>;
  let token: string;

  /** POSTs a JSON body, as written, to a Connect unary method. */
  async function post(path: string, body: string, headers: Record<string, string> = {}): Promise<JsonReply> {
    const res = await fetch(`${base}/${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  beforeAll(async () => {
    server = await startTestServer();
    base = `http://127.0.0.1:${server.httpPort}`;
    admin = adminHeaders(server.org);
    const created = await post(
      "tessera.v1.AdminService/CreateAgent",
      '{"name":"json-agent","tier":"TIER_VERIFIED","roles":["operator"]}',
      admin,
    );
    expect(created.status).toBe(200);
    const agent = created.body.agent as { id: string; tier: string };
    expect(agent.tier).toBe("TIER_VERIFIED");
    const minted = await post(
      "tessera.v1.AuthService/MintToken",
      JSON.stringify({ agentId: agent.id, scopes: ["governance:propose"], ttl: "600s" }),
      admin,
    );
    expect(minted.status).toBe(200);
    expect(Date.parse(minted.body.expiresAt as string)).toBeGreaterThan(Date.now());
    token = minted.body.token as string;
  });
  afterAll(async () => server?.stop());

  it("accepts the issue's attributes body with x-api-key and allows", async () => {
    const res = await post("tessera.v1.AuthService/Authorize", ATTRIBUTES_BODY, {
      "x-api-key": server.org.apiKey,
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      decision: "DECISION_ALLOW",
      reason: "ALLOWED_BY_RULE",
      rule: "example/propose",
    });
    expect(res.body.decisionId).toEqual(expect.any(String));
  });

  it("accepts the issue's token body with a minted token and allows", async () => {
    const res = await post("tessera.v1.AuthService/Authorize", tokenBody(token));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ decision: "DECISION_ALLOW", rule: "example/propose" });
  });

  it.each([
    ["no API key for an attributes subject", ATTRIBUTES_BODY, {}, "CALLER_UNIDENTIFIED"],
    ["a malformed API key", ATTRIBUTES_BODY, { "x-api-key": "tsk_short" }, "API_KEY_MALFORMED"],
    ["an unknown API key", ATTRIBUTES_BODY, { "x-api-key": generateSecret("apiKey") }, "API_KEY_UNKNOWN"],
  ])("refuses %s: 401, code unauthenticated, reason in the details", async (_n, body, headers, reason) => {
    const res = await post("tessera.v1.AuthService/Authorize", body, headers);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("unauthenticated");
    expect(reasonOf(res.body)).toBe(reason);
  });

  it.each([
    ["rewritten claims", () => forgeClaims(token, { roles: ["admin"] }), "TOKEN_INVALID"],
    ["a flipped payload character", () => tamperPayload(token), "TOKEN_MALFORMED"],
  ])("refuses a token with %s", async (_name, forged, reason) => {
    const res = await post("tessera.v1.AuthService/Authorize", tokenBody(forged()));
    expect(res.body.code).toBe("unauthenticated");
    expect(reasonOf(res.body)).toBe(reason);
  });

  it("refuses an admin call without the admin token", async () => {
    const res = await post("tessera.v1.AdminService/ListAgents", "{}", { "x-api-key": server.org.apiKey });
    expect(res.body.code).toBe("unauthenticated");
    expect(reasonOf(res.body)).toBe("ADMIN_TOKEN_MISSING");
  });

  it("answers a body that is not JSON with invalid_argument, never internal", async () => {
    const res = await post("tessera.v1.AuthService/Authorize", "{not json", {
      "x-api-key": server.org.apiKey,
    });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("invalid_argument");
  });

  it("answers a body over 64 KiB with resource_exhausted", async () => {
    const big = JSON.stringify({ scope: "a:b", attributes: { id: "x".repeat(70 * 1024) } });
    const res = await post("tessera.v1.AuthService/Authorize", big, { "x-api-key": server.org.apiKey });
    expect(res.status).toBe(429);
    expect(res.body.code).toBe("resource_exhausted");
  });

  it("answers a content type Connect does not speak with 415", async () => {
    const res = await fetch(`${base}/tessera.v1.AuthService/Authorize`, {
      method: "POST",
      headers: { "content-type": "text/plain", "x-api-key": server.org.apiKey },
      body: ATTRIBUTES_BODY,
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.status).toBe(415);
  });

  it("publishes the key that signed a minted token at /.well-known/jwks.json", async () => {
    const res = await fetch(`${base}/.well-known/jwks.json`, { signal: AbortSignal.timeout(10_000) });
    expect(res.status).toBe(200);
    const jwks = (await res.json()) as { keys: Record<string, unknown>[] };
    const { kid } = decodeProtectedHeader(token);
    const key = jwks.keys.find((k) => k.kid === kid);
    expect(key).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" });
    for (const k of jwks.keys) expect(k).not.toHaveProperty("d");
  });

  it("answers GET /healthz with 200 SERVING", async () => {
    const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(10_000) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "SERVING" });
  });

  it("serves binary Connect over HTTP/1.1 to a connect-node client", async () => {
    const client = createClient(
      AuthService,
      createConnectTransport({ baseUrl: base, httpVersion: "1.1", useBinaryFormat: true }),
    );
    const res = await client.authorize(
      {
        subject: { case: "attributes", value: { id: "a1", tier: Tier.VERIFIED, roles: ["operator"] } },
        scope: "governance:propose",
        resource: { kind: "tool", id: "t1" },
      },
      { headers: { "x-api-key": server.org.apiKey }, timeoutMs: 10_000 },
    );
    expect(res.decision).toBe(Decision.ALLOW);
    const err = await client
      .authorize({ subject: { case: "token", value: forgeClaims(token, { tier: "trusted" }) }, scope: "a:b" })
      .then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    expect(err?.code).toBe(Code.Unauthenticated);
    expect(err?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("TOKEN_INVALID");
  });
});
