import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiKey } from "../../gen/tessera/v1/types_pb.js";
import { isUnused } from "../../src/cli/commands/org.js";
import type { NewSource } from "../../src/core/credential-usage.js";
import { databasePath } from "../../src/store/db.js";
import { expectOk } from "../helpers/e2e.js";
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
