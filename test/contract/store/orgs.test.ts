import { createHash } from "node:crypto";
import { expect, it } from "vitest";
import type { Async } from "../../../src/store/contract/async.js";
import { type CredentialRow, OrgRepository } from "../../../src/store/orgs.js";
import { PgOrgRepository } from "../../../src/store/postgres/orgs.js";
import { describeBackends, type Opened, selectRows } from "./backends.js";
import {
  auditRows,
  changeRows,
  isUniqueViolation,
  outcome,
  race,
  reasonOf,
  rejection,
  twoReplicas,
} from "./replicas.js";

function orgs(o: Opened): Async<OrgRepository> {
  return o.kind === "sqlite" ? new OrgRepository(o.db) : new PgOrgRepository(o.db);
}

const digest = (secret: string) => createHash("sha256").update(secret).digest();
const NOW = 1_700_000_000;

/** The org's first API key and admin token, as bootstrap makes them. */
const primary = (tag: string) => [
  { id: `key_${tag}_api`, kind: "api_key" as const, digest: digest(`${tag}-api`) },
  { id: `key_${tag}_adm`, kind: "admin_token" as const, digest: digest(`${tag}-adm`) },
];

const scoped = (id: string, orgId = "org_a", extra: Partial<CredentialRow> = {}): CredentialRow => ({
  id,
  orgId,
  kind: "api_key",
  digest: digest(id),
  name: `name ${id}`,
  scopes: ["agents:read", "policies:*"],
  prefix: "tsk_abcd",
  expiresAt: NOW + 86400,
  ...extra,
});

async function withOrg(o: Opened, id = "org_a"): Promise<Async<OrgRepository>> {
  const repo = orgs(o);
  await repo.create({ id, name: `name of ${id}`, now: NOW }, primary(id));
  return repo;
}

/** The change rows after each org's own creation (which records a credential change: every process holds every credential). */
async function changesAfterCreate(o: Opened) {
  const created = (await auditRows(o)).filter((a) => a.action === "org.create").length;
  return (await changeRows(o)).slice(created);
}

/** The audit rows after the org's own org.create. */
async function auditsAfterCreate(o: Opened) {
  return (await auditRows(o)).filter((a) => a.action !== "org.create");
}

describeBackends("org repository", (opened) => {
  it("creates an org with its credentials, an org.create audit row and a credential change", async () => {
    const o = opened();
    const repo = orgs(o);
    expect(await repo.countOrgs()).toBe(0);
    expect(await repo.get("org_a")).toBeUndefined();
    await repo.create({ id: "org_a", name: "Acme", now: NOW }, primary("a"));
    expect(await repo.get("org_a")).toEqual({ id: "org_a", name: "Acme", policyRevision: 0 });
    expect(await repo.countOrgs()).toBe(1);

    const api = await repo.findCredential(digest("a-api"));
    expect(api).toEqual({
      id: "key_a_api",
      orgId: "org_a",
      kind: "api_key",
      digest: digest("a-api"),
      scopes: undefined,
      name: "",
      prefix: "",
      expiresAt: undefined,
      graceUntil: undefined,
      createdAt: NOW,
      revokedAt: undefined,
      rateLimit: undefined,
    });
    expect(Buffer.isBuffer(api?.digest)).toBe(true);
    expect((await repo.findCredential(digest("a-adm")))?.kind).toBe("admin_token");
    expect(await repo.findCredential(digest("nope"))).toBeUndefined();
    // The API key first (kind DESC), then the admin token.
    expect((await repo.primaryCredentials("org_a")).map((c) => c.id)).toEqual(["key_a_api", "key_a_adm"]);
    expect(await repo.scopedKeys("org_a")).toEqual([]);

    expect(await changeRows(o)).toEqual([["credential", "org_a", null]]);
    expect(await auditRows(o)).toEqual([
      {
        orgId: "org_a",
        action: "org.create",
        targetKind: "org",
        targetId: "org_a",
        before: null,
        after: { name: "Acme", credentials: ["key_a_api", "key_a_adm"] },
      },
    ]);
  });

  it("refuses a second org with the same id or a reused digest, writing nothing", async () => {
    const o = opened();
    const repo = await withOrg(o);
    const sameId = await rejection(() => repo.create({ id: "org_a", name: "again", now: NOW }, primary("b")));
    expect(isUniqueViolation(sameId)).toBe(true);
    const sameDigest = await rejection(() =>
      repo.create({ id: "org_b", name: "b", now: NOW }, [
        { id: "key_b_api", kind: "api_key", digest: digest("org_a-api") },
      ]),
    );
    expect(isUniqueViolation(sameDigest)).toBe(true);
    expect(await repo.countOrgs()).toBe(1);
    expect(await repo.get("org_b")).toBeUndefined();
    expect(await repo.findCredential(digest("b-api"))).toBeUndefined();
    expect((await auditRows(o)).map((a) => a.targetId)).toEqual(["org_a"]);
  });

  it("creates the first org only while there is none", async () => {
    const o = opened();
    const repo = orgs(o);
    expect(await repo.createFirst({ id: "org_dev", name: "development", now: NOW }, primary("dev"))).toBe(
      true,
    );
    expect(await repo.get("org_dev")).toEqual({ id: "org_dev", name: "development", policyRevision: 0 });
    expect((await repo.primaryCredentials("org_dev")).map((c) => c.id)).toEqual([
      "key_dev_api",
      "key_dev_adm",
    ]);
    expect(await repo.createFirst({ id: "org_two", name: "development", now: NOW }, primary("two"))).toBe(
      false,
    );
    expect(await repo.countOrgs()).toBe(1);
    expect(await repo.findCredential(digest("two-api"))).toBeUndefined();
    expect((await auditRows(o)).map((a) => [a.action, a.targetId])).toEqual([["org.create", "org_dev"]]);
    expect(await changeRows(o)).toEqual([["credential", "org_dev", null]]);
  });

  it("adds scoped keys, lists them newest first and records each", async () => {
    const o = opened();
    const repo = await withOrg(o);
    await withOrg(o, "org_b");
    await repo.addScopedKey(scoped("key_1"), NOW + 1);
    await repo.addScopedKey(scoped("key_2", "org_a", { rateLimit: { rps: 5, burst: 10 } }), NOW + 2);
    await repo.addScopedKey(scoped("key_3", "org_a", { expiresAt: undefined, scopes: ["admin"] }), NOW + 2);
    await repo.addScopedKey(scoped("key_b", "org_b"), NOW + 3);

    expect((await repo.scopedKeys("org_a")).map((k) => k.id)).toEqual(["key_2", "key_3", "key_1"]);
    expect(await repo.scopedKey("org_a", "key_2")).toEqual({
      id: "key_2",
      orgId: "org_a",
      kind: "api_key",
      digest: digest("key_2"),
      scopes: ["agents:read", "policies:*"],
      name: "name key_2",
      prefix: "tsk_abcd",
      expiresAt: NOW + 86400,
      graceUntil: undefined,
      createdAt: NOW + 2,
      revokedAt: undefined,
      rateLimit: { rps: 5, burst: 10 },
    });
    expect((await repo.findCredential(digest("key_3")))?.scopes).toEqual(["admin"]);
    expect(await repo.scopedKey("org_b", "key_2")).toBeUndefined();
    expect(await repo.scopedKey("org_a", "key_org_a_api")).toBeUndefined();
    // Scoped keys are not primary credentials.
    expect((await repo.primaryCredentials("org_a")).map((c) => c.id)).toEqual([
      "key_org_a_api",
      "key_org_a_adm",
    ]);

    const dup = await rejection(() => repo.addScopedKey(scoped("key_1"), NOW + 4));
    expect(isUniqueViolation(dup)).toBe(true);

    expect(await changesAfterCreate(o)).toEqual([
      ["credential", "org_a", "key_1"],
      ["credential", "org_a", "key_2"],
      ["credential", "org_a", "key_3"],
      ["credential", "org_b", "key_b"],
    ]);
    const audits = await auditsAfterCreate(o);
    expect(audits).toHaveLength(4);
    expect(audits[0]).toEqual({
      orgId: "org_a",
      action: "api_key.create",
      targetKind: "api_key",
      targetId: "key_1",
      before: null,
      after: {
        kind: "api_key",
        name: "name key_1",
        scopes: ["agents:read", "policies:*"],
        expiresAt: NOW + 86400,
      },
    });
    expect(audits[2]?.after).toEqual({
      kind: "api_key",
      name: "name key_3",
      scopes: ["admin"],
      expiresAt: null,
    });
  });

  it("revokes a live scoped key once, and never a primary credential or another org's key", async () => {
    const o = opened();
    const repo = await withOrg(o);
    await withOrg(o, "org_b");
    await repo.addScopedKey(scoped("key_1"), NOW);
    expect(await repo.revokeKey("org_b", "key_1", NOW + 5)).toBe(false);
    expect(await repo.revokeKey("org_a", "key_org_a_api", NOW + 5)).toBe(false);
    expect(await repo.revokeKey("org_a", "missing", NOW + 5)).toBe(false);
    expect(await repo.revokeKey("org_a", "key_1", NOW + 5)).toBe(true);
    expect(await repo.revokeKey("org_a", "key_1", NOW + 6)).toBe(false);

    expect(await repo.findCredential(digest("key_1"))).toBeUndefined();
    expect((await repo.scopedKey("org_a", "key_1"))?.revokedAt).toBe(NOW + 5);
    expect((await repo.scopedKeys("org_a")).map((k) => [k.id, k.revokedAt])).toEqual([["key_1", NOW + 5]]);
    expect(await repo.findCredential(digest("org_a-api"))).toBeDefined();

    expect(await changesAfterCreate(o)).toEqual([
      ["credential", "org_a", "key_1"],
      ["credential", "org_a", "key_1"],
    ]);
    expect((await auditsAfterCreate(o)).slice(1)).toEqual([
      {
        orgId: "org_a",
        action: "api_key.revoke",
        targetKind: "api_key",
        targetId: "key_1",
        before: { revoked: false },
        after: { revoked: true, revokedAt: NOW + 5 },
      },
    ]);
  });

  it("rotates a key: the replacement is live, the old one has a grace that only ever shortens", async () => {
    const o = opened();
    const repo = await withOrg(o);
    await repo.addScopedKey(scoped("key_1", "org_a", { rateLimit: { rps: 3, burst: 4 } }), NOW);
    await repo.rotateKey(
      "org_a",
      "key_1",
      scoped("key_2", "org_a", { rateLimit: { rps: 3, burst: 4 } }),
      NOW + 100,
      NOW + 10,
    );

    expect((await repo.scopedKey("org_a", "key_1"))?.graceUntil).toBe(NOW + 100);
    expect((await repo.findCredential(digest("key_1")))?.graceUntil).toBe(NOW + 100);
    const replacement = await repo.findCredential(digest("key_2"));
    expect(replacement?.createdAt).toBe(NOW + 10);
    expect(replacement?.rateLimit).toEqual({ rps: 3, burst: 4 });
    expect(replacement?.graceUntil).toBeUndefined();

    // A second rotation asking for a later grace keeps the earlier one.
    await repo.rotateKey("org_a", "key_1", scoped("key_3"), NOW + 500, NOW + 20);
    expect((await repo.scopedKey("org_a", "key_1"))?.graceUntil).toBe(NOW + 100);
    await repo.rotateKey("org_a", "key_1", scoped("key_4"), NOW + 50, NOW + 30);
    expect((await repo.scopedKey("org_a", "key_1"))?.graceUntil).toBe(NOW + 50);

    expect(await changesAfterCreate(o)).toEqual([
      ["credential", "org_a", "key_1"],
      ["credential", "org_a", "key_1"],
      ["credential", "org_a", "key_1"],
      ["credential", "org_a", "key_1"],
    ]);
    const rotations = (await auditsAfterCreate(o)).filter((a) => a.action === "api_key.rotate");
    expect(rotations[0]).toEqual({
      orgId: "org_a",
      action: "api_key.rotate",
      targetKind: "api_key",
      targetId: "key_1",
      before: { graceUntil: null },
      after: {
        graceUntil: NOW + 100,
        replacement: "key_2",
        kind: "api_key",
        name: "name key_2",
        scopes: ["agents:read", "policies:*"],
        expiresAt: NOW + 86400,
      },
    });
    expect(rotations.map((a) => (a.after as { graceUntil: number }).graceUntil)).toEqual([
      NOW + 100,
      NOW + 100,
      NOW + 50,
    ]);
  });

  it("refuses to rotate a revoked, missing, primary or other org's key with API_KEY_NOT_FOUND, writing nothing", async () => {
    const o = opened();
    const repo = await withOrg(o);
    await withOrg(o, "org_b");
    await repo.addScopedKey(scoped("key_1"), NOW);
    await repo.revokeKey("org_a", "key_1", NOW + 1);
    const before = { changes: await changeRows(o), audits: await auditRows(o) };
    for (const [org, id] of [
      ["org_a", "key_1"],
      ["org_a", "missing"],
      ["org_a", "key_org_a_api"],
      ["org_b", "key_1"],
    ] as const) {
      expect(
        reasonOf(await rejection(() => repo.rotateKey(org, id, scoped(`r_${org}_${id}`), NOW + 9, NOW + 2))),
      ).toBe("API_KEY_NOT_FOUND");
    }
    expect(await repo.findCredential(digest("r_org_a_key_1"))).toBeUndefined();
    expect((await repo.findCredential(digest("org_a-api")))?.graceUntil).toBeUndefined();
    expect(await changeRows(o)).toEqual(before.changes);
    expect(await auditRows(o)).toEqual(before.audits);
  });

  it("replaces the primary credentials: the old stop at once, scoped keys stay", async () => {
    const o = opened();
    const repo = await withOrg(o);
    await repo.addScopedKey(scoped("key_1"), NOW);
    await repo.replacePrimary("org_a", primary("new"), NOW + 7);

    expect(await repo.findCredential(digest("org_a-api"))).toBeUndefined();
    expect(await repo.findCredential(digest("org_a-adm"))).toBeUndefined();
    expect((await repo.findCredential(digest("new-api")))?.orgId).toBe("org_a");
    expect((await repo.findCredential(digest("new-adm")))?.createdAt).toBe(NOW + 7);
    expect((await repo.primaryCredentials("org_a")).map((c) => c.id)).toEqual(["key_new_api", "key_new_adm"]);
    expect(await repo.findCredential(digest("key_1"))).toBeDefined();
    const revoked = await selectRows<{ id: string; revoked_at: number }>(
      o,
      "SELECT id, revoked_at FROM org_credentials WHERE revoked_at IS NOT NULL ORDER BY id",
    );
    expect(revoked).toEqual([
      { id: "key_org_a_adm", revoked_at: NOW + 7 },
      { id: "key_org_a_api", revoked_at: NOW + 7 },
    ]);

    expect((await changesAfterCreate(o)).slice(1)).toEqual([["credential", "org_a", null]]);
    expect((await auditsAfterCreate(o)).slice(1)).toEqual([
      {
        orgId: "org_a",
        action: "org_credentials.rotate",
        targetKind: "org_credentials",
        targetId: "org_a",
        before: { credentials: ["key_org_a_adm", "key_org_a_api"] },
        after: { credentials: ["key_new_api", "key_new_adm"] },
      },
    ]);
  });

  it("sets and clears a live API key's own rate limit, and lists every live one", async () => {
    const o = opened();
    const repo = await withOrg(o);
    await withOrg(o, "org_b");
    await repo.addScopedKey(scoped("key_1"), NOW);
    await repo.addScopedKey(scoped("key_2", "org_a", { rateLimit: { rps: 1, burst: 2 } }), NOW);
    await repo.addScopedKey(scoped("key_gone", "org_a", { rateLimit: { rps: 1, burst: 2 } }), NOW);
    await repo.revokeKey("org_a", "key_gone", NOW);
    const base = (await changeRows(o)).length;
    // The live API keys' own limits, as every process derives them from its credentials.
    const keyRateLimits = async () =>
      new Map(
        (await repo.liveCredentials())
          .filter((c) => c.kind === "api_key" && c.rateLimit)
          .map((c) => [`api_key:${c.id}`, c.rateLimit]),
      );

    expect(await repo.setKeyRateLimit("org_a", "key_1", { rps: 10, burst: 20 })).toBe(true);
    expect(await repo.setKeyRateLimit("org_a", "key_org_a_api", { rps: 7, burst: 7 })).toBe(true);
    expect(await repo.setKeyRateLimit("org_a", "key_org_a_adm", { rps: 7, burst: 7 })).toBe(false);
    expect(await repo.setKeyRateLimit("org_a", "key_gone", { rps: 7, burst: 7 })).toBe(false);
    expect(await repo.setKeyRateLimit("org_b", "key_1", { rps: 7, burst: 7 })).toBe(false);
    expect(await repo.setKeyRateLimit("org_a", "missing", undefined)).toBe(false);

    expect(await keyRateLimits()).toEqual(
      new Map([
        ["api_key:key_1", { rps: 10, burst: 20 }],
        ["api_key:key_2", { rps: 1, burst: 2 }],
        ["api_key:key_org_a_api", { rps: 7, burst: 7 }],
      ]),
    );
    expect(await repo.setKeyRateLimit("org_a", "key_2", undefined)).toBe(true);
    expect((await repo.scopedKey("org_a", "key_2"))?.rateLimit).toBeUndefined();
    expect([...(await keyRateLimits()).keys()].sort()).toEqual(["api_key:key_1", "api_key:key_org_a_api"]);

    expect((await changeRows(o)).slice(base)).toEqual([
      ["credential", "org_a", "key_1"],
      ["credential", "org_a", "key_org_a_api"],
      ["credential", "org_a", "key_2"],
    ]);
    const limits = (await auditRows(o)).filter((a) => a.action === "api_key.rate_limit");
    expect(limits.map((a) => [a.targetId, a.before, a.after])).toEqual([
      ["key_1", { rateLimitRps: null, rateLimitBurst: null }, { rateLimitRps: 10, rateLimitBurst: 20 }],
      ["key_org_a_api", { rateLimitRps: null, rateLimitBurst: null }, { rateLimitRps: 7, rateLimitBurst: 7 }],
      ["key_2", { rateLimitRps: 1, rateLimitBurst: 2 }, { rateLimitRps: null, rateLimitBurst: null }],
    ]);
  });

  it("two replicas starting at once on an empty database: exactly one creates the first org", async () => {
    const o = opened();
    const { a, b, close } = await twoReplicas(o);
    try {
      const [ra, rb] = await race(
        () => orgs(a).createFirst({ id: "org_x", name: "development", now: NOW }, primary("x")),
        () => orgs(b).createFirst({ id: "org_y", name: "development", now: NOW }, primary("y")),
      );
      expect([outcome(ra), outcome(rb)].sort()).toEqual([false, true]);
      expect(await orgs(o).countOrgs()).toBe(1);
      expect(await selectRows(o, "SELECT id FROM org_credentials")).toHaveLength(2);
      expect((await auditRows(o)).map((r) => r.action)).toEqual(["org.create"]);
    } finally {
      await close();
    }
  });

  it("two replicas revoking the same key at once: one revokes, the other finds it gone", async () => {
    const o = opened();
    const repo = await withOrg(o);
    await repo.addScopedKey(scoped("key_1"), NOW);
    const { a, b, close } = await twoReplicas(o);
    try {
      const [ra, rb] = await race(
        () => orgs(a).revokeKey("org_a", "key_1", NOW + 1),
        () => orgs(b).revokeKey("org_a", "key_1", NOW + 2),
      );
      expect([outcome(ra), outcome(rb)].sort()).toEqual([false, true]);
      expect((await auditRows(o)).filter((r) => r.action === "api_key.revoke")).toHaveLength(1);
      expect(await changesAfterCreate(o)).toHaveLength(2);
    } finally {
      await close();
    }
  });

  it("a rotation racing a revocation of the same key never issues a replacement for a revoked key", async () => {
    const o = opened();
    const repo = await withOrg(o);
    await repo.addScopedKey(scoped("key_1"), NOW);
    const { a, b, close } = await twoReplicas(o);
    try {
      const [rotated, revoked] = await race(
        () => orgs(a).rotateKey("org_a", "key_1", scoped("key_2"), NOW + 100, NOW + 1),
        () => orgs(b).revokeKey("org_a", "key_1", NOW + 1),
      );
      expect(outcome(revoked)).toBe(true);
      const replacement = await repo.findCredential(digest("key_2"));
      if (outcome(rotated) === "ok") {
        // The rotation came first: its replacement lives on, the old key is revoked.
        expect(replacement?.orgId).toBe("org_a");
        expect((await repo.scopedKey("org_a", "key_1"))?.graceUntil).toBe(NOW + 100);
      } else {
        expect(outcome(rotated)).toBe("API_KEY_NOT_FOUND");
        expect(replacement).toBeUndefined();
        expect((await repo.scopedKey("org_a", "key_1"))?.graceUntil).toBeUndefined();
      }
      expect(await repo.findCredential(digest("key_1"))).toBeUndefined();
    } finally {
      await close();
    }
  });

  it("two replicas rotating the same key at once: both replacements issued, the shorter grace kept", async () => {
    const o = opened();
    const repo = await withOrg(o);
    await repo.addScopedKey(scoped("key_1"), NOW);
    const { a, b, close } = await twoReplicas(o);
    try {
      const [ra, rb] = await race(
        () => orgs(a).rotateKey("org_a", "key_1", scoped("key_2"), NOW + 100, NOW + 1),
        () => orgs(b).rotateKey("org_a", "key_1", scoped("key_3"), NOW + 60, NOW + 1),
      );
      expect([outcome(ra), outcome(rb)]).toEqual(["ok", "ok"]);
      expect((await repo.scopedKey("org_a", "key_1"))?.graceUntil).toBe(NOW + 60);
      expect((await repo.scopedKeys("org_a")).map((k) => k.id).sort()).toEqual(["key_1", "key_2", "key_3"]);
    } finally {
      await close();
    }
  });

  it("two replicas replacing the primary credentials at once leave exactly one live pair", async () => {
    const o = opened();
    const repo = await withOrg(o);
    const { a, b, close } = await twoReplicas(o);
    try {
      const [ra, rb] = await race(
        () => orgs(a).replacePrimary("org_a", primary("p"), NOW + 1),
        () => orgs(b).replacePrimary("org_a", primary("q"), NOW + 1),
      );
      expect([outcome(ra), outcome(rb)]).toEqual(["ok", "ok"]);
      const live = (await repo.primaryCredentials("org_a")).map((c) => c.id);
      expect([
        ["key_p_api", "key_p_adm"],
        ["key_q_api", "key_q_adm"],
      ]).toContainEqual(live);
      const rotations = (await auditRows(o)).filter((r) => r.action === "org_credentials.rotate");
      // The second saw (and revoked) the first's pair.
      expect(rotations).toHaveLength(2);
      const firstMade = (rotations[0]?.after as { credentials: string[] } | undefined)?.credentials ?? [];
      expect(rotations[1]?.before).toEqual({ credentials: [...firstMade].sort() });
    } finally {
      await close();
    }
  });
});
