import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiKey } from "../../gen/tessera/v1/types_pb.js";
import { isUnused } from "../../src/cli/commands/org.js";
import type { NewSource } from "../../src/core/credential-usage.js";
import { databasePath } from "../../src/store/db.js";
import { adminHeaders, expectOk } from "../helpers/e2e.js";
import { type GrpcFixture, startGrpcFixture } from "../helpers/grpc-fixture.js";

/*
 * Issue #13: each credential's last use and call count, counted in memory and written in
 * batches; a credential seen from a new source is told of once, by id, never by secret.
 */

describe("key usage", () => {
  let f: GrpcFixture;
  let key = "";
  let keyId = "";
  let limitedKey = "";
  let limitedId = "";
  const sources: NewSource[] = [];
  beforeAll(async () => {
    f = await startGrpcFixture();
    f.server.tessera.usage.tellNewSources((e) => sources.push(e));
    const made = expectOk(
      await f.c.admin.call("createApiKey", { name: "used", scopes: ["decisions:evaluate"] }, f.admin),
    );
    key = made.apiKey;
    keyId = made.key?.id ?? "";
    // A rate-limited key: its calls are resolved twice (the limit, then the handler), counted once.
    const limited = expectOk(
      await f.c.admin.call(
        "createApiKey",
        {
          name: "limited",
          scopes: ["decisions:evaluate"],
          rateLimit: { requestsPerSecond: 1000, burst: 1000 },
        },
        f.admin,
      ),
    );
    limitedKey = limited.apiKey;
    limitedId = limited.key?.id ?? "";
  });
  afterAll(async () => f?.close());

  const authorize = (apiKey: string) =>
    f.c.auth.call(
      "authorize",
      {
        subject: { case: "token", value: f.token },
        scope: "governance:propose",
        resource: { kind: "tool", id: "t1" },
      },
      { "x-api-key": apiKey },
    );

  it("counts every call of a key once and lists the count and last use", async () => {
    const before = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 7; i++) expectOk(await authorize(key));
    for (let i = 0; i < 5; i++) expectOk(await authorize(limitedKey));
    const keys = expectOk(await f.c.admin.call("listApiKeys", {}, f.admin)).keys;
    const used = keys.find((k) => k.id === keyId);
    expect(used?.useCount).toBe(7n);
    expect(Number(used?.lastUsedAt?.seconds)).toBeGreaterThanOrEqual(before);
    expect(keys.find((k) => k.id === limitedId)?.useCount).toBe(5n);
  });

  it("writes the counts in one batch to the database, adding to what is stored", async () => {
    f.server.tessera.usage.flush();
    expectOk(await authorize(key));
    f.server.tessera.usage.flush();
    const db = new Database(databasePath(f.server.dataDir), { readonly: true });
    try {
      const row = db
        .prepare("SELECT use_count FROM credential_usage WHERE credential = ?")
        .get(`api_key:${keyId}`) as { use_count: number } | undefined;
      expect(row?.use_count).toBe(8);
    } finally {
      db.close();
    }
    const keys = expectOk(await f.c.admin.call("listApiKeys", {}, f.admin)).keys;
    expect(keys.find((k) => k.id === keyId)?.useCount).toBe(8n);
  });

  it("tells of a key's first source once, by its id and address, never its secret", () => {
    const seen = sources.filter((s) => s.credential === `api_key:${keyId}`);
    expect(seen).toEqual([
      { orgId: f.server.org.orgId, credential: `api_key:${keyId}`, source: "127.0.0.1" },
    ]);
    expect(JSON.stringify(sources)).not.toContain(key);
  });

  const orgCredentials = async () => {
    const own = expectOk(await f.c.admin.call("listApiKeys", {}, f.admin)).orgCredentials;
    const primary = own.find((k) => k.kind === "primary");
    const token = own.find((k) => k.kind === "admin_token");
    return { own, primary, token };
  };

  it("counts an admin call against the admin token and, once, the org's API key; lists both", async () => {
    const before = await orgCredentials();
    // The org's own credentials, listed apart from the scoped keys: no scopes, the admin token no prefix.
    expect(before.own.map((k) => k.kind)).toEqual(["primary", "admin_token"]);
    expect(before.primary?.scopes).toEqual([]);
    expect(before.token?.prefix).toBe("");
    expect(before.token?.id).not.toBe(before.primary?.id);
    const tokenBefore = before.token?.useCount ?? 0n;
    const keyBefore = before.primary?.useCount ?? 0n;
    expect(tokenBefore).toBeGreaterThan(0n);
    for (let i = 0; i < 4; i++) expectOk(await f.c.admin.call("listAgents", {}, f.admin));
    // A scoped key's calls are no use of the admin token.
    for (let i = 0; i < 3; i++) expectOk(await authorize(key));
    const after = await orgCredentials();
    // The 4 calls and the listing call itself, each counted once for each credential.
    expect(after.token?.useCount).toBe(tokenBefore + 5n);
    expect(after.primary?.useCount).toBe(keyBefore + 5n);
    expect(after.token?.lastUsedAt).toBeDefined();
    expect(JSON.stringify(after.own, (_k, v) => (typeof v === "bigint" ? String(v) : v))).not.toContain(
      f.server.org.adminToken,
    );
    f.server.tessera.usage.flush();
    const db = new Database(databasePath(f.server.dataDir), { readonly: true });
    try {
      const row = db
        .prepare("SELECT org_id, use_count FROM credential_usage WHERE credential = ?")
        .get(`admin_token:${after.token?.id}`) as { org_id: string; use_count: number } | undefined;
      expect(row).toEqual({ org_id: f.server.org.orgId, use_count: Number(tokenBefore) + 5 });
    } finally {
      db.close();
    }
  });

  it("lists only the caller's org's own credentials", async () => {
    const mine = (await orgCredentials()).own.map((k) => k.id);
    const theirs = expectOk(await f.c.admin.call("listApiKeys", {}, adminHeaders(f.other))).orgCredentials;
    expect(theirs.map((k) => k.kind)).toEqual(["primary", "admin_token"]);
    expect(theirs.some((k) => mine.includes(k.id))).toBe(false);
  });

  it("shows an agent's usage: its bearer-token calls and its secret logins", async () => {
    const created = expectOk(await f.c.admin.call("createAgent", { name: "counted" }, f.admin));
    const agentId = created.agent?.id ?? "";
    // Never used: no last use, no count.
    const fresh = expectOk(await f.c.admin.call("getAgent", { id: agentId }, f.admin)).agent;
    expect(fresh?.useCount).toBe(0n);
    expect(fresh?.lastUsedAt).toBeUndefined();
    const { secret } = expectOk(await f.c.admin.call("createAgentSecret", { agentId }, f.admin));
    const login = expectOk(
      await f.c.auth.call("authenticate", {
        credential: { case: "agentSecret", value: { agentId, secret } },
        issueTokens: true,
      }),
    );
    const bearer = { authorization: `Bearer ${login.tokens?.accessToken}` };
    for (let i = 0; i < 3; i++) expectOk(await f.c.auth.call("whoAmI", {}, bearer));
    const before = Math.floor(Date.now() / 1000) - 5;
    const listed = expectOk(await f.c.admin.call("listAgents", {}, f.admin)).agents;
    const agent = listed.find((a) => a.id === agentId);
    // One login and three calls with its token.
    expect(agent?.useCount).toBe(4n);
    expect(Number(agent?.lastUsedAt?.seconds)).toBeGreaterThanOrEqual(before);
    expect(expectOk(await f.c.admin.call("getAgent", { id: agentId }, f.admin)).agent?.useCount).toBe(4n);
    // The other org's agent is not counted with ours, nor ours shown to it.
    const theirs = expectOk(await f.c.admin.call("listAgents", {}, adminHeaders(f.other))).agents;
    expect(theirs.map((a) => a.id)).toEqual([f.otherAgentId]);
    expect(theirs[0]?.useCount).toBe(0n);
  });

  it("flags a live key unused for N days: never used and older, or last used longer ago", () => {
    const now = 100 * 86400;
    const k = (o: Partial<Record<"createdAt" | "lastUsedAt" | "revokedAt", number>>) =>
      ({
        createdAt: o.createdAt === undefined ? undefined : { seconds: BigInt(o.createdAt) },
        lastUsedAt: o.lastUsedAt === undefined ? undefined : { seconds: BigInt(o.lastUsedAt) },
        revokedAt: o.revokedAt === undefined ? undefined : { seconds: BigInt(o.revokedAt) },
      }) as ApiKey;
    expect(isUnused(k({ createdAt: now - 31 * 86400 }), 30, now)).toBe(true);
    expect(isUnused(k({ createdAt: now - 29 * 86400 }), 30, now)).toBe(false);
    expect(isUnused(k({ createdAt: 0, lastUsedAt: now - 86400 }), 30, now)).toBe(false);
    expect(isUnused(k({ createdAt: 0, lastUsedAt: now - 40 * 86400 }), 30, now)).toBe(true);
    expect(isUnused(k({ createdAt: 0, revokedAt: 1 }), 30, now)).toBe(false);
  });
});
