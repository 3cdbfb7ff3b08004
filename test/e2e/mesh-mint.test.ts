import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Authorization, type CheckResponse } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import { adminHeaders, expectOk } from "../helpers/e2e.js";
import { type ForwardFixture, startForwardFixture } from "../helpers/forward-auth.js";
import { grpcClient } from "../helpers/grpc-client.js";

/*
 * Issue #12, decide and mint at the policy enforcement points: a RouteMap's `mint:` makes an
 * ALLOW of ext_authz or forward auth carry a downstream token in place of the client's own, and
 * AuthZEN's `context.tessera_mint` puts one in the decision's context. The token names the
 * subject, holds only the decided scope, carries the decision id, outlives neither the subject's
 * token nor what was asked, and its `act` chain names the PEP.
 */

/** The fixture's RouteMap (same name, so it replaces it), now minting. */
const MINTING_ROUTES = `apiVersion: tessera.dev/v1
kind: RouteMap
metadata: { name: todo-api }
spec:
  mint: { ttl: 2m }
  routes:
    - match: { method: GET, path: /todos }
      scope: todos:list
      resource: { kind: todo-list }
    - match: { method: GET, path: "/todos/{id}" }
      scope: todos:read
      resource: { kind: todo, id: "{id}" }
      mint: { ttl: 30s }
    - match: { methods: [PUT, DELETE], path: "/todos/{id}" }
      scope: todos:write
      resource: { kind: todo, id: "{id}" }
  default: deny
`;

interface Payload {
  sub: string;
  org: string;
  scopes: string[];
  exp: number;
  iat: number;
  jti: string;
  decision_id?: string;
  act?: { sub: string; jti?: string };
}

/** An AuthZEN answer: a decision (or a batch of them), or a refusal's reason. */
interface EvaluationReply {
  decision?: boolean;
  reason?: string;
  context: { token?: string; decision_id: string; expires_at?: number; reason?: string };
  evaluations: { decision: boolean; context: { token?: string; reason?: string } }[];
}

const payloadOf = (token: string): Payload =>
  JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"));

function check(method: string, path: string, token: string) {
  return {
    attributes: {
      request: {
        http: {
          method,
          host: "todo.internal",
          path,
          headers: { authorization: `Bearer ${token}` },
          size: -1n,
        },
      },
    },
  };
}

const okHeaders = (r: CheckResponse): Record<string, string> =>
  r.httpResponse.case === "okResponse"
    ? Object.fromEntries(
        r.httpResponse.value.headers.map((h) => [h.header?.key ?? "", h.header?.value ?? ""]),
      )
    : {};

const denyReason = (r: CheckResponse): string =>
  r.httpResponse.case === "deniedResponse"
    ? (JSON.parse(r.httpResponse.value.body) as { reason: string }).reason
    : "";

describe("decide and mint at the PEPs (RouteMap mint, AuthZEN tessera_mint)", { timeout: 60_000 }, () => {
  let f: ForwardFixture;
  let envoy: ReturnType<typeof grpcClient<typeof Authorization.method>>;
  let pep: Record<string, string>;

  beforeAll(async () => {
    f = await startForwardFixture();
    pep = { "x-api-key": f.server.org.apiKey };
    await f.connect(
      "tessera.v1.AdminService/PutPolicy",
      { document: MINTING_ROUTES },
      adminHeaders(f.server.org),
    );
    envoy = grpcClient(Authorization, `127.0.0.1:${f.server.grpcPort}`);
  });

  afterAll(async () => {
    envoy?.close();
    await f?.server.stop();
  });

  const subjectOf = (token: string) => payloadOf(token);

  /** What every minted token must be: the subject's, one scope, this decision, a shorter life, one more link. */
  function expectMinted(minted: string, subject: string, scope: string, decisionId: string, maxTtl: number) {
    const p = payloadOf(minted);
    const s = subjectOf(subject);
    expect(p.sub).toBe(s.sub);
    expect(p.org).toBe(s.org);
    expect(p.scopes).toEqual([scope]);
    expect(p.decision_id).toBe(decisionId);
    expect(p.exp - p.iat).toBeLessThanOrEqual(maxTtl);
    expect(p.exp).toBeLessThanOrEqual(s.exp);
    expect(p.act?.jti).toBe(s.jti);
    expect(p.jti).not.toBe(s.jti);
    return p;
  }

  it("ext_authz: an ALLOW replaces the client's Authorization with the minted token", async () => {
    const r = expectOk(await envoy.call("check", check("GET", "/todos", f.tokenA), pep));
    const h = okHeaders(r);
    expect(h.authorization).toMatch(/^Bearer /);
    const minted = (h.authorization ?? "").slice(7);
    expect(minted).not.toBe(f.tokenA);
    const p = expectMinted(minted, f.tokenA, "todos:list", h["x-tessera-decision-id"] ?? "", 120);
    // The PEP (the org's API key) extended the chain, not the subject.
    expect(p.act?.sub).not.toBe(p.sub);
    // Introspection tells which decision minted it, and by whom.
    const seen = await f.connect("tessera.v1.AuthService/IntrospectToken", { token: minted }, pep);
    expect(seen).toMatchObject({
      active: true,
      decisionId: h["x-tessera-decision-id"],
      actors: [p.act?.sub],
    });
  });

  it("ext_authz: a route's own mint wins over the map's (30 s, not 2 min)", async () => {
    const h = okHeaders(expectOk(await envoy.call("check", check("GET", "/todos/7", f.tokenA), pep)));
    expectMinted(
      (h.authorization ?? "").slice(7),
      f.tokenA,
      "todos:read",
      h["x-tessera-decision-id"] ?? "",
      30,
    );
  });

  it("ext_authz: a DENY carries no token", async () => {
    const r = expectOk(await envoy.call("check", check("DELETE", "/todos/7", f.tokenA), pep));
    expect(r.httpResponse.case).toBe("deniedResponse");
    expect(denyReason(r)).toBe("NO_MATCHING_RULE");
    expect(JSON.stringify(r.httpResponse.value)).not.toContain("Bearer");
  });

  it("ext_authz: a trusted org's token is decided but never minted for (MINT_CROSS_ORG)", async () => {
    const admin = adminHeaders(f.server.org);
    await f.connect("tessera.v1.AdminService/TrustOrg", { orgId: f.orgB }, admin);
    try {
      const r = expectOk(await envoy.call("check", check("GET", "/todos", f.tokenB), pep));
      expect(r.httpResponse.case).toBe("deniedResponse");
      expect(denyReason(r)).toBe("MINT_CROSS_ORG");
    } finally {
      await f.connect("tessera.v1.AdminService/UntrustOrg", { orgId: f.orgB }, admin);
    }
  });

  it("forward auth: an ALLOW answers the minted token in Authorization for the proxy to copy", async () => {
    const res = await fetch(`${f.base}/v1/forward-auth`, {
      headers: {
        ...pep,
        authorization: `Bearer ${f.tokenA}`,
        "x-forwarded-method": "GET",
        "x-forwarded-uri": "/todos/42?full=1",
        "x-forwarded-host": "todo.internal",
      },
    });
    expect(res.status).toBe(200);
    const minted = (res.headers.get("authorization") ?? "").slice(7);
    expectMinted(minted, f.tokenA, "todos:read", res.headers.get("x-tessera-decision-id") ?? "", 30);
  });

  it("forward auth with the bare token alone: the subject narrows its own token", async () => {
    const res = await fetch(`${f.base}/v1/forward-auth`, {
      headers: {
        authorization: `Bearer ${f.tokenA}`,
        "x-original-method": "GET",
        "x-original-uri": "/todos",
      },
    });
    expect(res.status).toBe(200);
    const p = payloadOf((res.headers.get("authorization") ?? "").slice(7));
    expect(p.act?.sub).toBe(p.sub);
  });

  describe("AuthZEN context.tessera_mint", () => {
    const evaluate = async (body: unknown, path = "/access/v1/evaluation") => {
      const res = await fetch(`${f.base}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...pep },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as EvaluationReply };
    };
    const question = (over: Record<string, unknown> = {}) => ({
      subject: { type: "agent", id: f.agentA, properties: { token: f.tokenA } },
      action: { name: "todos:read" },
      resource: { type: "todo", id: "9" },
      context: { tessera_mint: { ttl_seconds: 45 } },
      ...over,
    });

    it("an ALLOW carries the token and its expiry in the decision's context", async () => {
      const r = await evaluate(question());
      expect(r.status).toBe(200);
      expect(r.body.decision).toBe(true);
      const p = expectMinted(
        r.body.context.token ?? "",
        f.tokenA,
        "todos:read",
        r.body.context.decision_id,
        45,
      );
      expect(r.body.context.expires_at).toBe(p.exp);
    });

    it("a DENY carries none", async () => {
      const r = await evaluate(question({ action: { name: "todos:write" } }));
      expect(r.body.decision).toBe(false);
      expect(r.body.context.token).toBeUndefined();
    });

    it("without the subject's token, or with another subject's, nothing is minted (400)", async () => {
      const noToken = await evaluate(question({ subject: { type: "agent", id: f.agentA } }));
      expect([noToken.status, noToken.body.reason]).toEqual([400, "MINT_SUBJECT_INVALID"]);
      const someoneElse = await evaluate(
        question({ subject: { type: "agent", id: f.agentA, properties: { token: f.tokenB } } }),
      );
      expect(someoneElse.status).toBe(401);
      expect(someoneElse.body.reason).toBe("TOKEN_ORG_MISMATCH");
      const wrongId = await evaluate(
        question({ subject: { type: "agent", id: "agent-not-the-token", properties: { token: f.tokenA } } }),
      );
      expect([wrongId.status, wrongId.body.reason]).toEqual([400, "REQUEST_MALFORMED"]);
    });

    it("bad options are refused, and a batch item asking to mint fails alone", async () => {
      const bad = await evaluate(question({ context: { tessera_mint: { ttl_seconds: -1 } } }));
      expect([bad.status, bad.body.reason]).toEqual([400, "REQUEST_MALFORMED"]);
      const tooLong = await evaluate(question({ context: { tessera_mint: { ttl_seconds: 10_000_000 } } }));
      expect([tooLong.status, tooLong.body.reason]).toEqual([400, "TTL_TOO_LONG"]);
      const batch = await evaluate(
        { ...question(), context: {}, evaluations: [{}, { context: { tessera_mint: true } }] },
        "/access/v1/evaluations",
      );
      expect(batch.status).toBe(200);
      expect(batch.body.evaluations[0]?.decision).toBe(true);
      expect(batch.body.evaluations[0]?.context.token).toBeUndefined();
      expect(batch.body.evaluations[1]).toMatchObject({
        decision: false,
        context: { reason: "REQUEST_MALFORMED" },
      });
    });
  });
});
