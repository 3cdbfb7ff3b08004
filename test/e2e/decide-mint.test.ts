import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { createOrg, type NewOrg } from "../../src/core/bootstrap.js";
import { openStore } from "../../src/store/store.js";
import { adminHeaders, expectFailure, expectOk } from "../helpers/e2e.js";
import { grpcClients } from "../helpers/grpc-fixture.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/**
 * Issue #12, decide and mint, on a real server with a real grpc-js client: Authorize with
 * `mint` answers an ALLOW with a token naming the subject, holding only the decided scope,
 * carrying the decision id, outliving neither the subject token nor the server's maximum, and
 * with the `act` chain extended by the caller; everyone the delegation rules refuse is refused
 * with a reason, and nothing is decided (or logged) for a refused call.
 */

const POLICY = `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: mint-test }
spec:
  rules:
    - { name: read-docs, scopes: ["docs:read"], effect: allow }
    - { name: no-audit, scopes: ["audit:read"], effect: deny }
`;

interface Payload {
  sub: string;
  org: string;
  scopes: string[];
  tier: string;
  roles: string[];
  tags: string[];
  exp: number;
  jti: string;
  decision_id?: string;
  act?: { sub: string; jti?: string; sid?: string; act?: unknown };
}

const payloadOf = (token: string): Payload =>
  JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"));

describe("Authorize with mint (decide and mint) on a real server", { timeout: 60_000 }, () => {
  let server: TestServer;
  let c: ReturnType<typeof grpcClients>;
  let admin: Record<string, string>;
  let other: NewOrg;
  let agentId = "";
  let otherToken = "";

  const mintFor = async (id: string, headers: Record<string, string>, scopes = ["docs:*", "audit:read"]) =>
    expectOk(await c.auth.call("mintToken", { agentId: id, scopes, ttl: { seconds: 600n } }, headers)).token;
  const ask = (
    token: string,
    headers: Record<string, string> = {},
    scope = "docs:read",
    mint: Record<string, unknown> | null = {},
  ) =>
    c.auth.call(
      "authorize",
      { subject: { case: "token", value: token }, scope, ...(mint ? { mint } : {}) },
      headers,
    );
  const decisions = () => {
    const store = openStore(server.dataDir);
    try {
      return (
        store.db.prepare("SELECT COALESCE(SUM(count), 0) AS n FROM decision_segments").get() as { n: number }
      ).n;
    } finally {
      void store.close();
    }
  };

  beforeAll(async () => {
    server = await startTestServer({ decisionLogDurability: "sync" });
    c = grpcClients(`127.0.0.1:${server.grpcPort}`);
    admin = adminHeaders(server.org);
    expectOk(await c.admin.call("putPolicy", { document: POLICY }, admin));
    const created = expectOk(
      await c.admin.call(
        "createAgent",
        { name: "worker", tier: Tier.VERIFIED, roles: ["operator"], tags: ["team:core"] },
        admin,
      ),
    );
    agentId = created.agent?.id ?? "";
    const store = openStore(server.dataDir);
    try {
      other = await createOrg(store, "other", new Date());
    } finally {
      void store.close();
    }
    expectOk(await c.admin.call("putPolicy", { document: POLICY }, adminHeaders(other)));
    const theirs = expectOk(await c.admin.call("createAgent", { name: "theirs" }, adminHeaders(other)));
    otherToken = await mintFor(theirs.agent?.id ?? "", adminHeaders(other));
  });
  afterAll(async () => {
    for (const client of Object.values(c ?? {})) client.close();
    await server?.stop();
  });

  it("answers an ALLOW with a token of the subject holding exactly the decided scope and the decision id", async () => {
    const subject = await mintFor(agentId, admin);
    const s = payloadOf(subject);
    const res = expectOk(await ask(subject, admin));
    expect(res).toMatchObject({ decision: Decision.ALLOW, rule: "mint-test/read-docs" });
    const p = payloadOf(res.token);
    expect(p).toMatchObject({
      sub: agentId,
      org: server.org.orgId,
      scopes: ["docs:read"],
      tier: s.tier,
      roles: s.roles,
      tags: s.tags,
      decision_id: res.decisionId,
    });
    expect(p.exp).toBeLessThanOrEqual(s.exp);
    expect(Number(res.expiresAt?.seconds)).toBe(p.exp);
    // The caller (the org's admin credential) is the newest actor; its link names the subject token.
    expect(p.act?.sub).toMatch(/^admin:/);
    expect(p.act?.jti).toBe(s.jti);
    expect(p.act?.act).toBeUndefined();
    // It verifies: introspection, and as an Authorize subject of its own.
    expect(expectOk(await c.auth.call("introspectToken", { token: res.token }, admin))).toMatchObject({
      active: true,
      sub: agentId,
      scopes: ["docs:read"],
    });
    expect(expectOk(await ask(res.token, {}, "docs:read", null)).decision).toBe(Decision.ALLOW);
    expect(expectOk(await ask(res.token, {}, "docs:write", null))).toMatchObject({
      decision: Decision.DENY,
      reason: "SCOPE_NOT_GRANTED",
    });
  });

  it("lets the token alone mint from itself: the subject is its own actor; ttl is cut to the subject's expiry", async () => {
    const subject = await mintFor(agentId, admin);
    const s = payloadOf(subject);
    const short = expectOk(await ask(subject, {}, "docs:read", { ttl: { seconds: 60n } }));
    const p = payloadOf(short.token);
    expect(p.act).toEqual({ sub: agentId, jti: s.jti });
    expect(p.exp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 61);
    const long = payloadOf(expectOk(await ask(subject, {}, "docs:read", { ttl: { seconds: 3000n } })).token);
    expect(long.exp).toBeLessThanOrEqual(s.exp);
    // The agent's own bearer token is the same caller.
    const bearer = expectOk(await ask(subject, { authorization: `Bearer ${subject}` }));
    expect(payloadOf(bearer.token).act?.sub).toBe(agentId);
  });

  it("answers a DENY without a token, and Authorize without mint is unchanged", async () => {
    const subject = await mintFor(agentId, admin);
    const denied = expectOk(await ask(subject, admin, "audit:read"));
    expect(denied).toMatchObject({ decision: Decision.DENY, token: "" });
    expect(denied.expiresAt).toBeUndefined();
    const plain = expectOk(await ask(subject, admin, "docs:read", null));
    expect(plain).toMatchObject({ decision: Decision.ALLOW, token: "" });
  });

  it("refuses what may not be minted, with its reason, and decides (logs) nothing", async () => {
    const subject = await mintFor(agentId, admin);
    const before = decisions();
    expectFailure(
      await c.auth.call(
        "authorize",
        { subject: { case: "attributes", value: { id: "x" } }, scope: "docs:read", mint: {} },
        admin,
      ),
      grpc.status.INVALID_ARGUMENT,
      "MINT_SUBJECT_INVALID",
    );
    expectFailure(
      await ask(subject, admin, "docs:read", { ttl: { seconds: 100_000n } }),
      grpc.status.INVALID_ARGUMENT,
      "TTL_TOO_LONG",
    );
    expectFailure(
      await ask(subject, admin, "docs:read", { audience: "elsewhere" }),
      grpc.status.INVALID_ARGUMENT,
      "AUDIENCE_INVALID",
    );
    // Another org's token: refused untrusted, and still refused once trusted.
    expectFailure(await ask(otherToken, admin), grpc.status.UNAUTHENTICATED, "TOKEN_ORG_MISMATCH");
    expectOk(await c.admin.call("trustOrg", { orgId: other.orgId }, admin));
    expect(expectOk(await ask(otherToken, admin, "docs:read", null)).decision).toBe(Decision.ALLOW);
    const afterTrusted = decisions();
    expectFailure(await ask(otherToken, admin), grpc.status.PERMISSION_DENIED, "MINT_CROSS_ORG");
    expectFailure(
      await ask(otherToken, { "x-api-key": server.org.apiKey }),
      grpc.status.PERMISSION_DENIED,
      "MINT_CROSS_ORG",
    );
    expectOk(await c.admin.call("untrustOrg", { orgId: other.orgId }, admin));
    // A scoped key without capabilities:manage, the org's key without its admin token, another agent.
    const policiesKey = expectOk(
      await c.admin.call("createApiKey", { name: "ci", scopes: ["policies:manage"] }, admin),
    ).apiKey;
    expectFailure(
      await ask(subject, { "x-api-key": policiesKey }),
      grpc.status.PERMISSION_DENIED,
      "API_KEY_SCOPE_MISSING",
    );
    expectFailure(
      await ask(subject, { "x-api-key": server.org.apiKey }),
      grpc.status.UNAUTHENTICATED,
      "ADMIN_TOKEN_MISSING",
    );
    const peer = expectOk(await c.admin.call("createAgent", { name: "peer" }, admin)).agent?.id ?? "";
    const peerToken = await mintFor(peer, admin, ["docs:read"]);
    expectFailure(
      await ask(subject, { authorization: `Bearer ${peerToken}` }),
      grpc.status.PERMISSION_DENIED,
      "DELEGATION_FORBIDDEN",
    );
    expect(decisions()).toBe(afterTrusted);
    expect(afterTrusted).toBe(before + 1);
  });

  it("lets a scoped key with capabilities:manage mint: the key is the newest actor", async () => {
    const subject = await mintFor(agentId, admin);
    const key = expectOk(
      await c.admin.call("createApiKey", { name: "gateway", scopes: ["capabilities:manage"] }, admin),
    );
    const res = expectOk(await ask(subject, { "x-api-key": key.apiKey }));
    expect(payloadOf(res.token).act?.sub).toBe(`api_key:${key.key?.id}`);
  });

  it("refuses a chain deeper than the maximum with DELEGATION_TOO_DEEP", async () => {
    let token = await mintFor(agentId, admin);
    for (let depth = 1; depth <= 3; depth++) {
      token = expectOk(await ask(token)).token;
      let link = payloadOf(token).act;
      let n = 0;
      for (; link; link = link.act as typeof link) n++;
      expect(n).toBe(depth);
    }
    expectFailure(await ask(token), grpc.status.PERMISSION_DENIED, "DELEGATION_TOO_DEEP");
  });

  it("ends the minted token with the subject token: revoking the subject is TOKEN_REVOKED for both", async () => {
    const subject = await mintFor(agentId, admin);
    const minted = expectOk(await ask(subject, admin)).token;
    const onward = expectOk(await ask(minted)).token;
    expect(expectOk(await ask(onward, {}, "docs:read", null)).decision).toBe(Decision.ALLOW);
    expectOk(await c.auth.call("revokeToken", { token: subject }, admin));
    for (const t of [subject, minted, onward])
      expectFailure(await ask(t, {}, "docs:read", null), grpc.status.UNAUTHENTICATED, "TOKEN_REVOKED");
  });
});
