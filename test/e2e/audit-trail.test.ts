import { generateKeyPairSync } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SystemService } from "../../gen/tessera/v1/system_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { databasePath } from "../../src/store/db.js";
import { openStore } from "../../src/store/store.js";
import { adminHeaders, type CallResult, expectFailure, expectOk } from "../helpers/e2e.js";
import { grpcClient } from "../helpers/grpc-client.js";
import { type GrpcFixture, startGrpcFixture } from "../helpers/grpc-fixture.js";
import { createOperatorToken } from "../helpers/server.js";

/**
 * Issue #13, "Audit trail", on a real server with a real grpc-js client: every mutating admin
 * RPC writes exactly one audit record in the transaction of its change, naming the caller and
 * how it authenticated, with the call's x-request-id; a refused change writes none; QueryAudit
 * shows an org its own records only, page by page.
 */

interface Row {
  seq: number;
  org_id: string | null;
  actor: string;
  auth_method: string;
  action: string;
  target_kind: string;
  target_id: string;
  before: string | null;
  after: string | null;
  request_id: string;
}

const POLICY = `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: audited }
spec:
  rules:
    - { name: reads, scopes: ["reports:read"], effect: allow }
`;

describe("admin audit trail", { timeout: 60_000 }, () => {
  let f: GrpcFixture;
  let db: Database.Database;
  let admin: Record<string, string>;
  let adminKeyId = "";
  let orgId = "";

  const rowsAfter = (seq: number): Row[] =>
    db.prepare<[number], Row>("SELECT * FROM admin_audit WHERE seq > ? ORDER BY seq").all(seq);
  const lastSeq = (): number =>
    db.prepare<[], { s: number | null }>("SELECT max(seq) AS s FROM admin_audit").get()?.s ?? 0;

  /** Runs a call with a fresh request id; returns its value and the audit rows it wrote. */
  async function audited<T>(
    call: (headers: Record<string, string>) => Promise<CallResult<T>>,
    headers: Record<string, string> = admin,
  ) {
    const before = lastSeq();
    const requestId = `req-${Math.random().toString(36).slice(2)}`;
    const value = expectOk(await call({ ...headers, "x-request-id": requestId }));
    return { value, rows: rowsAfter(before), requestId };
  }

  beforeAll(async () => {
    f = await startGrpcFixture();
    admin = f.admin;
    db = new Database(databasePath(f.server.dataDir), { readonly: true });
    orgId = f.server.org.orgId;
    adminKeyId = db
      .prepare<[string], { id: string }>(
        "SELECT id FROM org_credentials WHERE org_id = ? AND kind = 'api_key' AND scopes IS NULL AND revoked_at IS NULL",
      )
      .get(orgId)?.id as string;
  });
  afterAll(async () => {
    db?.close();
    await f?.close();
  });

  it("each mutating admin RPC writes exactly one record, with the caller, its auth method and the request id", async () => {
    const a = f.c.admin;
    const expectOne = (
      r: { rows: Row[]; requestId: string },
      action: string,
      targetId?: string,
      actor = `admin:${adminKeyId}`,
      method = "admin_token",
    ): Row => {
      expect(r.rows.map((x) => x.action)).toEqual([action]);
      const row = r.rows[0] as Row;
      expect({
        org: row.org_id,
        actor: row.actor,
        method: row.auth_method,
        requestId: row.request_id,
      }).toEqual({
        org: orgId,
        actor,
        method,
        requestId: r.requestId,
      });
      if (targetId !== undefined) expect(row.target_id).toBe(targetId);
      return row;
    };

    const created = await audited((h) => a.call("createAgent", { name: "audited", tier: Tier.VERIFIED }, h));
    const agentId = created.value.agent?.id ?? "";
    const row = expectOne(created, "agent.create", agentId);
    expect(JSON.parse(row.after ?? "{}")).toMatchObject({ name: "audited", tier: "verified" });

    const updated = await audited((h) => a.call("updateAgent", { id: agentId, tier: Tier.TRUSTED }, h));
    const u = expectOne(updated, "agent.update", agentId);
    expect([JSON.parse(u.before ?? "{}").tier, JSON.parse(u.after ?? "{}").tier]).toEqual([
      "verified",
      "trusted",
    ]);
    expectOne(await audited((h) => a.call("suspendAgent", { id: agentId }, h)), "agent.suspend", agentId);
    expectOne(await audited((h) => a.call("resumeAgent", { id: agentId }, h)), "agent.resume", agentId);
    const secret = await audited((h) => a.call("createAgentSecret", { agentId }, h));
    expectOne(secret, "agent_secret.set", agentId);
    const pem = generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }).toString();
    const key = await audited((h) => a.call("registerAgentKey", { agentId, publicKey: pem }, h));
    expectOne(key, "agent_key.register", key.value.keyId);
    expectOne(
      await audited((h) => a.call("removeAgentKey", { agentId, keyId: key.value.keyId }, h)),
      "agent_key.remove",
      key.value.keyId,
    );
    expectOne(await audited((h) => a.call("deleteAgent", { id: agentId }, h)), "agent.delete", agentId);

    const apiKey = await audited((h) => a.call("createApiKey", { name: "ci", scopes: ["audit:read"] }, h));
    const keyId = apiKey.value.key?.id ?? "";
    const k = expectOne(apiKey, "api_key.create", keyId);
    expect(JSON.parse(k.after ?? "{}")).toMatchObject({ name: "ci", scopes: ["audit:read"] });
    const limited = await audited((h) =>
      a.call("setApiKeyRateLimit", { id: keyId, rateLimit: { requestsPerSecond: 5, burst: 10 } }, h),
    );
    const l = expectOne(limited, "api_key.rate_limit", keyId);
    expect([JSON.parse(l.before ?? "{}"), JSON.parse(l.after ?? "{}")]).toEqual([
      { rateLimitRps: null, rateLimitBurst: null },
      { rateLimitRps: 5, rateLimitBurst: 10 },
    ]);
    const rotated = await audited((h) => a.call("rotateApiKey", { id: keyId }, h));
    expectOne(rotated, "api_key.rotate", keyId);
    const newKeyId = rotated.value.key?.id ?? "";
    expectOne(await audited((h) => a.call("revokeApiKey", { id: newKeyId }, h)), "api_key.revoke", newKeyId);

    const user = await audited((h) =>
      a.call("createUser", { username: "ann", password: "correct horse battery staple", role: "viewer" }, h),
    );
    const userId = user.value.user?.id ?? "";
    expectOne(user, "user.create", userId);
    expectOne(
      await audited((h) =>
        a.call("setUserPassword", { userId, password: "another correct horse battery" }, h),
      ),
      "user.set_password",
      userId,
    );
    expectOne(await audited((h) => a.call("deleteUser", { userId }, h)), "user.delete", userId);

    const put = expectOne(
      await audited((h) => a.call("putPolicy", { document: POLICY }, h)),
      "policy.change",
    );
    expect(JSON.parse(put.after ?? "{}")).toMatchObject({ added: ["audited"] });
    const del = expectOne(
      await audited((h) => a.call("deletePolicy", { name: "audited" }, h)),
      "policy.change",
    );
    expect(JSON.parse(del.after ?? "{}")).toMatchObject({ removed: ["audited"] });

    const other = f.other.orgId;
    expectOne(await audited((h) => a.call("trustOrg", { orgId: other }, h)), "org_trust.add", other);
    expectOne(await audited((h) => a.call("untrustOrg", { orgId: other }, h)), "org_trust.remove", other);

    // A namespace the operator assigned (written here as the server), then a binding in it.
    const store = openStore(f.server.dataDir);
    try {
      store.services.insertNamespace({
        source: "spiffe",
        pattern: "spiffe://audit.test/",
        match: "prefix",
        orgId,
        createdAt: 1,
      });
    } finally {
      void store.close();
    }
    const id = "spiffe://audit.test/svc";
    expectOne(
      await audited((h) => a.call("bindServiceIdentity", { identity: id }, h)),
      "service_identity.bind",
    );
    expectOne(
      await audited((h) => a.call("unbindServiceIdentity", { identity: id }, h)),
      "service_identity.unbind",
    );

    // Last: the org's own credentials change.
    const creds = await audited((h) => a.call("rotateOrgCredentials", {}, h));
    expectOne(creds, "org_credentials.rotate", orgId);
    admin = { "x-api-key": creds.value.apiKey, "x-admin-token": creds.value.adminToken };
    adminKeyId = db
      .prepare<[string], { id: string }>(
        "SELECT id FROM org_credentials WHERE org_id = ? AND kind = 'api_key' AND scopes IS NULL AND revoked_at IS NULL",
      )
      .get(orgId)?.id as string;

    // Reads write nothing.
    const before = lastSeq();
    expectOk(await a.call("listAgents", {}, admin));
    expectOk(await a.call("listApiKeys", {}, admin));
    expect(rowsAfter(before)).toEqual([]);

    // No summary holds a secret: no key, token or secret handed out above appears in any record.
    const secrets = [
      secret.value.secret,
      apiKey.value.apiKey,
      rotated.value.apiKey,
      creds.value.apiKey,
      creds.value.adminToken,
    ];
    const all = JSON.stringify(rowsAfter(0));
    for (const s of secrets) {
      expect(s.length).toBeGreaterThan(10);
      expect(all).not.toContain(s);
    }
    expect(all).not.toMatch(/digest|hash|private/i);
  });

  it("a scoped API key is named as itself (api_key), and a refused or failed change writes nothing", async () => {
    const a = f.c.admin;
    const manage = expectOk(
      await a.call("createApiKey", { name: "caps", scopes: ["capabilities:manage"] }, admin),
    );
    const viewer = expectOk(await a.call("createApiKey", { name: "ro", scopes: ["audit:read"] }, admin));
    const scoped = { "x-api-key": manage.apiKey };
    const r = await audited((h) => a.call("createAgent", { name: "by-scoped-key" }, h), scoped);
    expect(r.rows.map((x) => [x.action, x.actor, x.auth_method])).toEqual([
      ["agent.create", `api_key:${manage.key?.id}`, "api_key"],
    ]);

    const before = lastSeq();
    // Refused: the key lacks the scope.
    expectFailure(
      await a.call("createAgent", { name: "nope" }, { "x-api-key": viewer.apiKey }),
      grpc.status.PERMISSION_DENIED,
      "API_KEY_SCOPE_MISSING",
    );
    // Refused: no credential at all.
    expectFailure(
      await a.call("createAgent", { name: "nope" }, {}),
      grpc.status.UNAUTHENTICATED,
      "ADMIN_TOKEN_MISSING",
    );
    // Failed: the name is taken; the agent is gone.
    expectFailure(
      await a.call("createAgent", { name: "by-scoped-key" }, admin),
      grpc.status.ALREADY_EXISTS,
      "AGENT_NAME_TAKEN",
    );
    expectFailure(
      await a.call("deleteAgent", { id: "agt_missing" }, admin),
      grpc.status.NOT_FOUND,
      "AGENT_NOT_FOUND",
    );
    // Failed inside the transaction: a policy that does not compile.
    expectFailure(
      await a.call("putPolicy", { document: "kind: Policy\nmetadata: {}\n" }, admin),
      grpc.status.INVALID_ARGUMENT,
      "POLICY_INVALID",
    );
    expect(rowsAfter(before)).toEqual([]);
  });

  it("a user session and the server operator are named as themselves", async () => {
    const a = f.c.admin;
    const password = "a long enough password for ops";
    const user = expectOk(await a.call("createUser", { username: "ops", password, role: "admin" }, admin));
    const login = expectOk(
      await f.c.auth.call("authenticate", {
        credential: { case: "password", value: { orgId, username: "ops", password } },
        issueTokens: true,
      }),
    );
    const asUser = { authorization: `Bearer ${login.tokens?.accessToken}` };
    const r = await audited((h) => a.call("createAgent", { name: "by-user" }, h), asUser);
    expect(r.rows.map((x) => [x.action, x.actor, x.auth_method])).toEqual([
      ["agent.create", `user:${user.user?.id}`, "user_session"],
    ]);

    const system = grpcClient(SystemService, f.address);
    try {
      const op = { "x-operator-token": await createOperatorToken(f.server.dataDir) };
      const opId = db
        .prepare<[], { id: string }>(
          "SELECT id FROM operator_tokens ORDER BY created_at DESC, rowid DESC LIMIT 1",
        )
        .get()?.id;
      const org = await audited((h) => system.call("createOrg", { name: "made-by-operator" }, h), op);
      expect(org.rows.map((x) => [x.action, x.org_id, x.actor, x.auth_method])).toEqual([
        ["org.create", org.value.org?.id, `operator:${opId}`, "operator"],
      ]);
      const keys = await audited((h) => system.call("rotateSigningKeys", {}, h), op);
      expect(keys.rows.map((x) => [x.action, x.org_id, x.actor])).toEqual([
        ["signing_keys.change", null, `operator:${opId}`],
      ]);
      expect(keys.rows[0]?.after).not.toMatch(/"kty"|"d"|private/);
    } finally {
      system.close();
    }
  });

  it("QueryAudit shows an org its own records only, filtered, page by page with a cursor", async () => {
    const a = f.c.admin;
    // The other org makes a change of its own.
    const theirs = expectOk(await a.call("createAgent", { name: "theirs-2" }, adminHeaders(f.other)));
    const mine = (
      await (async () => {
        const out = [];
        let cursor = "";
        for (let i = 0; i < 100; i++) {
          const page = expectOk(await a.call("queryAudit", { limit: 3, cursor }, admin));
          out.push(...page.records);
          cursor = page.nextCursor;
          if (!page.hasMore) break;
        }
        return out;
      })()
    ).map((r) => `${r.action} ${r.targetId}`);
    const stored = db
      .prepare<[string], { action: string; target_id: string }>(
        "SELECT action, target_id FROM admin_audit WHERE org_id = ? ORDER BY seq",
      )
      .all(orgId)
      .map((r) => `${r.action} ${r.target_id}`);
    expect(stored.length).toBeGreaterThan(20);
    // Every record once, in order, none of the other org's.
    expect(mine).toEqual(stored);
    expect(mine.some((m) => m.endsWith(theirs.agent?.id ?? "?"))).toBe(false);

    const theirView = expectOk(await a.call("queryAudit", { limit: 1000 }, adminHeaders(f.other)));
    expect(theirView.records.map((r) => r.targetId)).toContain(theirs.agent?.id);
    const theirStored = db
      .prepare<[string], { action: string; target_id: string }>(
        "SELECT action, target_id FROM admin_audit WHERE org_id = ? ORDER BY seq",
      )
      .all(f.other.orgId)
      .map((r) => `${r.action} ${r.target_id}`);
    expect(theirView.records.map((r) => `${r.action} ${r.targetId}`)).toEqual(theirStored);

    // Filters, newest first.
    const deletes = expectOk(
      await a.call("queryAudit", { action: "agent.delete", newestFirst: true }, admin),
    );
    expect(deletes.records.length).toBeGreaterThan(0);
    expect(deletes.records.every((r) => r.action === "agent.delete")).toBe(true);
    const newest = expectOk(await a.call("queryAudit", { limit: 1, newestFirst: true }, admin));
    expect(`${newest.records[0]?.action} ${newest.records[0]?.targetId}`).toBe(stored.at(-1));

    // A key with audit:read may read it; one without may not; a forged cursor is refused.
    const reader = expectOk(await a.call("createApiKey", { name: "auditor", scopes: ["audit:read"] }, admin));
    expectOk(await a.call("queryAudit", {}, { "x-api-key": reader.apiKey }));
    const writer = expectOk(await a.call("createApiKey", { name: "w", scopes: ["policies:manage"] }, admin));
    expectFailure(
      await a.call("queryAudit", {}, { "x-api-key": writer.apiKey }),
      grpc.status.PERMISSION_DENIED,
      "API_KEY_SCOPE_MISSING",
    );
    expectFailure(
      await a.call("queryAudit", { cursor: "not-a-cursor!" }, admin),
      grpc.status.INVALID_ARGUMENT,
      "CURSOR_INVALID",
    );
    expectFailure(
      await a.call("queryAudit", { cursor: Buffer.from("d1:1:2").toString("base64url") }, admin),
      grpc.status.INVALID_ARGUMENT,
      "CURSOR_INVALID",
    );
  });
});
