import { randomUUID } from "node:crypto";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { secretDigest } from "../../../src/auth/secrets.js";
import { AgentCredentialService } from "../../../src/core/agent-credentials.js";
import { TesseraError } from "../../../src/domain/errors.js";
import { AgentCredentialRepository, type AgentKeyRow } from "../../../src/store/agent-credentials.js";
import type { Async } from "../../../src/store/contract/async.js";
import { PgAgentCredentialRepository } from "../../../src/store/postgres/agent-credentials.js";
import { PgDb } from "../../../src/store/postgres/pg-db.js";
import { openTestPg, pgSkipReason } from "../../helpers/pg.js";
import { describeBackends, insertRows, type Opened, seedOrg, selectRows } from "./backends.js";

function credentials(o: Opened): Async<AgentCredentialRepository> {
  return o.kind === "sqlite" ? new AgentCredentialRepository(o.db) : new PgAgentCredentialRepository(o.db);
}

const changes = (o: Opened) =>
  selectRows<{ kind: string; org_id: string | null; ref: string | null }>(
    o,
    "SELECT kind, org_id, ref FROM changes ORDER BY seq",
  );

async function audits(o: Opened) {
  const rows = await selectRows<{
    org_id: string | null;
    action: string;
    target_kind: string;
    target_id: string;
    before: string | null;
    after: string | null;
  }>(o, "SELECT org_id, action, target_kind, target_id, before, after FROM admin_audit ORDER BY seq");
  return rows.map((r) => ({
    ...r,
    before: r.before === null ? null : JSON.parse(r.before),
    after: r.after === null ? null : JSON.parse(r.after),
  }));
}

const OLD = secretDigest("old secret");
const NEW = secretDigest("new secret");

/** Org A with agents agt-1 (secret OLD) and agt-2 (no secret), org B with agt-b (suspended). */
async function seed(o: Opened): Promise<void> {
  await seedOrg(o, "org-a");
  await seedOrg(o, "org-b");
  const row = (id: string, orgId: string, extra: Record<string, unknown> = {}) => ({
    id,
    org_id: orgId,
    name: id,
    tier: "verified",
    roles: '["reader"]',
    tags: "[]",
    created_at: 1000,
    ...extra,
  });
  await insertRows(o, "agents", [
    row("agt-1", "org-a", { secret_digest: OLD }),
    row("agt-2", "org-a"),
    row("agt-b", "org-b", { suspended_at: 1500, tokens_valid_after: 1500 }),
  ]);
}

let tokenNo = 0;
/** A refresh token row of a session (family) of `subject`. */
function token(subject: string, family: string, over: Record<string, unknown> = {}) {
  tokenNo++;
  return {
    id: `rt-${String(tokenNo).padStart(6, "0")}`,
    family_id: family,
    digest: secretDigest(`refresh ${tokenNo}`),
    org_id: "org-a",
    subject_kind: "agent",
    subject_id: subject,
    issued_at: 900,
    expires_at: 3000,
    started_at: 900,
    credential: "secret",
    ...over,
  };
}

const revokedAt = async (o: Opened) =>
  Object.fromEntries(
    (
      await selectRows<{ id: string; revoked_at: number | null }>(
        o,
        "SELECT id, revoked_at FROM refresh_tokens ORDER BY id",
      )
    ).map((r) => [r.id, r.revoked_at]),
  );
const revocationRows = (o: Opened) =>
  selectRows(o, "SELECT kind, value, expires_at FROM revocations ORDER BY value");

const key = (id: string, over: Partial<AgentKeyRow> = {}): AgentKeyRow => ({
  id,
  orgId: "org-a",
  agentId: "agt-1",
  alg: "EdDSA",
  publicJwk: `{"kty":"OKP","x":"${id}"}`,
  ...over,
});

describeBackends("agent credentials", (opened) => {
  it("finds any org's agent with its secret digest and suspension; exists only within the org", async () => {
    const o = opened();
    await seed(o);
    const repo = credentials(o);
    const one = await repo.find("agt-1");
    expect(one?.agent).toMatchObject({ id: "agt-1", orgId: "org-a", roles: ["reader"], tokensValidAfter: 0 });
    expect(one?.secretDigest?.equals(OLD)).toBe(true);
    expect(one?.suspendedAt).toBeNull();
    expect((await repo.find("agt-2"))?.secretDigest).toBeNull();
    const b = await repo.find("agt-b");
    expect([b?.agent.orgId, b?.suspendedAt, b?.agent.suspendedAt]).toEqual(["org-b", 1500, 1500]);
    expect(await repo.find("agt-none")).toBeUndefined();
    expect(await repo.exists("org-a", "agt-1")).toBe(true);
    expect(await repo.exists("org-b", "agt-1")).toBe(false);
    expect(await repo.exists("org-a", "agt-none")).toBe(false);
  });

  it("replaces a secret and ends every live session of the agent, in one write with its rows", async () => {
    const o = opened();
    await seed(o);
    await insertRows(o, "refresh_tokens", [
      token("agt-1", "fam-a", { used_at: 950, expires_at: 3000 }), // rt-: used, then renewed
      token("agt-1", "fam-a", { expires_at: 4000 }),
      token("agt-1", "fam-b", { expires_at: 1500, credential: "key:k1" }),
      token("agt-1", "fam-dead", { revoked_at: 100, expires_at: 9999 }),
      token("agt-2", "fam-other"),
    ]);
    const ids = Object.keys(await revokedAt(o));
    const repo = credentials(o);
    const ended = await repo.replaceSecret("org-a", "agt-1", NEW, { now: 1000, revokeUntil: 2000 });
    // Each session stays revoked until its last token would have expired, or revokeUntil if later.
    expect(ended).toEqual([
      { familyId: "fam-a", until: 4000 },
      { familyId: "fam-b", until: 2000 },
    ]);
    expect(await repo.secretIs("agt-1", NEW)).toBe(true);
    expect(await repo.secretIs("agt-1", OLD)).toBe(false);
    expect(Object.values(await revokedAt(o))).toEqual([1000, 1000, 1000, 100, null]);
    expect(Object.keys(await revokedAt(o))).toEqual(ids);
    expect(await revocationRows(o)).toEqual([
      { kind: "family", value: "fam-a", expires_at: 4000 },
      { kind: "family", value: "fam-b", expires_at: 2000 },
    ]);
    expect(await changes(o)).toEqual([
      { kind: "token_revoked", org_id: null, ref: "family:fam-a" },
      { kind: "token_revoked", org_id: null, ref: "family:fam-b" },
    ]);
    // Its sessions are over: another secret ends none. The other agent's session ends with its own.
    expect(await repo.replaceSecret("org-a", "agt-1", OLD, { now: 1100, revokeUntil: 2100 })).toEqual([]);
    expect(await repo.replaceSecret("org-a", "agt-2", NEW, { now: 1100, revokeUntil: 2100 })).toEqual([
      { familyId: "fam-other", until: 3000 },
    ]);
    const set = (id: string, configured: boolean) => ({
      org_id: "org-a",
      action: "agent_secret.set",
      target_kind: "agent",
      target_id: id,
      before: { configured },
      after: { configured: true },
    });
    expect(await audits(o)).toEqual([set("agt-1", true), set("agt-1", true), set("agt-2", false)]);
    expect((await changes(o)).map((c) => c.ref)).toEqual([
      "family:fam-a",
      "family:fam-b",
      "family:fam-other",
    ]);
  });

  it("refuses a secret for another org's agent or none, writing nothing", async () => {
    const o = opened();
    await seed(o);
    await insertRows(o, "refresh_tokens", [token("agt-1", "fam-a")]);
    const repo = credentials(o);
    const end = { now: 1000, revokeUntil: 2000 };
    expect(await repo.replaceSecret("org-b", "agt-1", NEW, end)).toBeUndefined();
    expect(await repo.replaceSecret("org-a", "agt-none", NEW, end)).toBeUndefined();
    expect(await repo.secretIs("agt-1", OLD)).toBe(true);
    expect(Object.values(await revokedAt(o))).toEqual([null]);
    expect(await revocationRows(o)).toEqual([]);
    expect(await changes(o)).toEqual([]);
    expect(await audits(o)).toEqual([]);
  });

  it("tells whether a digest is still the agent's secret", async () => {
    const o = opened();
    await seed(o);
    const repo = credentials(o);
    expect(await repo.secretIs("agt-1", OLD)).toBe(true);
    expect(await repo.secretIs("agt-1", NEW)).toBe(false);
    expect(await repo.secretIs("agt-2", OLD)).toBe(false);
    expect(await repo.secretIs("agt-none", OLD)).toBe(false);
  });

  it("registers a key once per org, with its audit row; another org may register the same key", async () => {
    const o = opened();
    await seed(o);
    const repo = credentials(o);
    expect(await repo.insertKey(key("k1"), 2000)).toBe(true);
    expect(await repo.insertKey(key("k1", { agentId: "agt-2" }), 2001)).toBe(false); // same org, other agent
    expect(await repo.insertKey(key("k1", { alg: "RS256" }), 2002)).toBe(false);
    expect(await repo.insertKey(key("k1", { orgId: "org-b", agentId: "agt-b" }), 2003)).toBe(true);
    expect(await repo.keysOf("agt-1")).toEqual([key("k1")]);
    expect(await repo.keysOf("agt-2")).toEqual([]);
    expect(await repo.keysOf("agt-b")).toEqual([key("k1", { orgId: "org-b", agentId: "agt-b" })]);
    expect(await changes(o)).toEqual([]);
    expect(await audits(o)).toEqual([
      {
        org_id: "org-a",
        action: "agent_key.register",
        target_kind: "agent_key",
        target_id: "k1",
        before: null,
        after: { agentId: "agt-1", alg: "EdDSA" },
      },
      {
        org_id: "org-b",
        action: "agent_key.register",
        target_kind: "agent_key",
        target_id: "k1",
        before: null,
        after: { agentId: "agt-b", alg: "EdDSA" },
      },
    ]);
  });

  it("lists an agent's keys oldest first, then by id, and tells whether one is still registered", async () => {
    const o = opened();
    await seed(o);
    const repo = credentials(o);
    await repo.insertKey(key("kc"), 3000);
    await repo.insertKey(key("kb", { alg: "RS256" }), 2000);
    await repo.insertKey(key("ka"), 3000);
    expect((await repo.keysOf("agt-1")).map((k) => k.id)).toEqual(["kb", "ka", "kc"]);
    expect(await repo.hasKey("org-a", "agt-1", "ka")).toBe(true);
    expect(await repo.hasKey("org-b", "agt-1", "ka")).toBe(false);
    expect(await repo.hasKey("org-a", "agt-2", "ka")).toBe(false);
    expect(await repo.hasKey("org-a", "agt-1", "kz")).toBe(false);
  });

  it("removes a key and ends the sessions it started (and those with no recorded credential)", async () => {
    const o = opened();
    await seed(o);
    const repo = credentials(o);
    await repo.insertKey(key("k1"), 2000);
    await repo.insertKey(key("k2"), 2000);
    await insertRows(o, "refresh_tokens", [
      token("agt-1", "fam-k1", { credential: "key:k1", expires_at: 5000 }),
      token("agt-1", "fam-k2", { credential: "key:k2" }),
      token("agt-1", "fam-old", { credential: null }),
      token("agt-1", "fam-s", { credential: "secret" }),
    ]);
    const end = { now: 1000, revokeUntil: 2000 };
    expect(await repo.removeKey("agt-2", "k1", "key:k1", end)).toBeUndefined(); // not its key
    expect(await repo.removeKey("agt-1", "kz", "key:kz", end)).toBeUndefined();
    expect(await changes(o)).toEqual([]);
    expect(await repo.removeKey("agt-1", "k1", "key:k1", end)).toEqual([
      { familyId: "fam-k1", until: 5000 },
      { familyId: "fam-old", until: 3000 },
    ]);
    expect(await repo.removeKey("agt-1", "k1", "key:k1", end)).toBeUndefined(); // once
    expect(await repo.hasKey("org-a", "agt-1", "k1")).toBe(false);
    expect((await repo.keysOf("agt-1")).map((k) => k.id)).toEqual(["k2"]);
    expect(Object.values(await revokedAt(o))).toEqual([1000, null, 1000, null]);
    expect(await revocationRows(o)).toEqual([
      { kind: "family", value: "fam-k1", expires_at: 5000 },
      { kind: "family", value: "fam-old", expires_at: 3000 },
    ]);
    expect(await changes(o)).toEqual([
      { kind: "token_revoked", org_id: null, ref: "family:fam-k1" },
      { kind: "token_revoked", org_id: null, ref: "family:fam-old" },
    ]);
    expect((await audits(o)).filter((r) => r.action === "agent_key.remove")).toEqual([
      {
        org_id: "org-a",
        action: "agent_key.remove",
        target_kind: "agent_key",
        target_id: "k1",
        before: { agentId: "agt-1" },
        after: null,
      },
    ]);
  });

  it("records an assertion id once, and sweeps only those expired before the bound", async () => {
    const o = opened();
    await seed(o);
    const repo = credentials(o);
    expect(await repo.recordAssertion("agt-1:j1", "agt-1", 100)).toBe(true);
    expect(await repo.recordAssertion("agt-1:j1", "agt-1", 200)).toBe(false);
    expect(await repo.recordAssertion("agt-2:j1", "agt-2", 100)).toBe(true);
    expect(await repo.recordAssertion("agt-1:j2", "agt-1", 99)).toBe(true);
    await repo.sweepAssertions(100);
    expect(await selectRows(o, "SELECT jti, expires_at FROM used_assertions ORDER BY jti")).toEqual([
      { jti: "agt-1:j1", expires_at: 100 },
      { jti: "agt-2:j1", expires_at: 100 },
    ]);
    // A swept id may be recorded again (it would be refused as expired first).
    expect(await repo.recordAssertion("agt-1:j2", "agt-1", 99)).toBe(true);
    expect(await changes(o)).toEqual([]);
    expect(await audits(o)).toEqual([]);
  });
});

/** Two pools on one database: two replicas, each with its own connections. */
describe.skipIf(pgSkipReason !== undefined)("agent credentials across two replicas [postgres]", () => {
  let pg: Awaited<ReturnType<typeof openTestPg>> | undefined;
  let other: PgDb | undefined;
  const pools = () => {
    if (!pg || !other) throw new Error("not opened");
    return [pg.db, other] as const;
  };
  const o = (): Opened => ({ kind: "postgres", db: pools()[0] });
  beforeAll(async () => {
    pg = await openTestPg();
    other = new PgDb(pg.url);
  });
  afterAll(async () => {
    await other?.close();
    await pg?.drop();
  });
  beforeEach(async () => {
    await pools()[0].query(
      "TRUNCATE agents, agent_keys, used_assertions, refresh_tokens, revocations, changes, admin_audit, orgs CASCADE",
    );
    await seed(o());
  });

  it("records an assertion id on exactly one replica when both record it at once", async () => {
    const [a, b] = pools().map((db) => new PgAgentCredentialRepository(db));
    if (!a || !b) throw new Error("not opened");
    for (let i = 0; i < 30; i++) {
      const jti = `agt-1:${randomUUID()}`;
      const won = await Promise.all([
        a.recordAssertion(jti, "agt-1", 9e9),
        b.recordAssertion(jti, "agt-1", 9e9),
      ]);
      expect(won.filter(Boolean)).toHaveLength(1);
    }
  });

  it("accepts the same signed assertion presented to both replicas at once exactly once", async () => {
    const services = pools().map(
      (db) =>
        new AgentCredentialService({
          repo: new PgAgentCredentialRepository(db),
          liveness: { apply: async () => {} },
          maxTokenTtlSeconds: 3600,
          audience: "tessera",
          clockToleranceSeconds: 10,
          now: () => new Date(),
        }),
    );
    const [first, second] = services;
    if (!first || !second) throw new Error("not opened");
    const { publicKey, privateKey } = await generateKeyPair("EdDSA");
    const { keyId } = await first.registerKey("org-a", "agt-1", JSON.stringify(await exportJWK(publicKey)));
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 10; i++) {
      const jwt = await new SignJWT({ aud: "tessera", jti: randomUUID() })
        .setProtectedHeader({ alg: "EdDSA", kid: keyId })
        .setIssuer("agt-1")
        .setSubject("agt-1")
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .sign(privateKey);
      const outcomes = await Promise.allSettled([
        first.authenticateAssertion(jwt),
        second.authenticateAssertion(jwt),
      ]);
      const accepted = outcomes.filter((r) => r.status === "fulfilled");
      const refused = outcomes.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
      expect(accepted).toHaveLength(1);
      expect(refused).toHaveLength(1);
      expect(refused[0]).toBeInstanceOf(TesseraError);
      expect((refused[0] as TesseraError).reason).toBe("ASSERTION_REPLAYED");
    }
  });

  it("removes a key on exactly one replica when both remove it at once, ending its sessions once", async () => {
    const [a, b] = pools().map((db) => new PgAgentCredentialRepository(db));
    if (!a || !b) throw new Error("not opened");
    await a.insertKey(key("k1"), 2000);
    await insertRows(o(), "refresh_tokens", [token("agt-1", "fam-k1", { credential: "key:k1" })]);
    const end = { now: 1000, revokeUntil: 2000 };
    const results = await Promise.all([
      a.removeKey("agt-1", "k1", "key:k1", end),
      b.removeKey("agt-1", "k1", "key:k1", end),
    ]);
    expect(results.filter((r) => r !== undefined)).toEqual([[{ familyId: "fam-k1", until: 3000 }]]);
    expect(await changes(o())).toEqual([{ kind: "token_revoked", org_id: null, ref: "family:fam-k1" }]);
    expect((await audits(o())).filter((r) => r.action === "agent_key.remove")).toHaveLength(1);
  });

  it("two secrets set at once on two replicas: both land in turn, the agent keeps one of them", async () => {
    const [a, b] = pools().map((db) => new PgAgentCredentialRepository(db));
    if (!a || !b) throw new Error("not opened");
    const end = { now: 1000, revokeUntil: 2000 };
    const results = await Promise.all([
      a.replaceSecret("org-a", "agt-2", OLD, end),
      b.replaceSecret("org-a", "agt-2", NEW, end),
    ]);
    expect(results).toEqual([[], []]);
    const kept = [await a.secretIs("agt-2", OLD), await a.secretIs("agt-2", NEW)];
    expect(kept.filter(Boolean)).toHaveLength(1);
    // The row lock orders them: exactly one saw no secret before it.
    const befores = (await audits(o())).map((r) => r.before);
    expect(befores.sort((x, y) => Number(x.configured) - Number(y.configured))).toEqual([
      { configured: false },
      { configured: true },
    ]);
  });
});
