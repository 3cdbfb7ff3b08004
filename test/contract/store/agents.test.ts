import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type AgentRecord, AgentRepository } from "../../../src/store/agents.js";
import type { Async } from "../../../src/store/contract/async.js";
import { PgAgentRepository } from "../../../src/store/postgres/agents.js";
import { PgDb } from "../../../src/store/postgres/pg-db.js";
import { openTestPg, pgSkipReason } from "../../helpers/pg.js";
import { describeBackends, type Opened, seedOrg, selectRows } from "./backends.js";

function agents(o: Opened): Async<AgentRepository> {
  return o.kind === "sqlite" ? new AgentRepository(o.db) : new PgAgentRepository(o.db);
}

const changes = (o: Opened) =>
  selectRows<{ kind: string; org_id: string | null; ref: string | null }>(
    o,
    "SELECT kind, org_id, ref FROM changes ORDER BY seq",
  );

interface AuditRow {
  org_id: string | null;
  action: string;
  target_kind: string;
  target_id: string;
  before: unknown;
  after: unknown;
}

async function audits(o: Opened): Promise<AuditRow[]> {
  const rows = await selectRows<AuditRow & { before: string | null; after: string | null }>(
    o,
    "SELECT org_id, action, target_kind, target_id, before, after FROM admin_audit ORDER BY seq",
  );
  return rows.map((r) => ({
    ...r,
    before: r.before === null ? null : JSON.parse(r.before),
    after: r.after === null ? null : JSON.parse(r.after),
  }));
}

function agent(id: string, over: Partial<AgentRecord> = {}): AgentRecord {
  return {
    id,
    orgId: "org-a",
    name: id,
    tier: "verified",
    roles: ["reader"],
    tags: ["team=x"],
    createdAt: 1000,
    ...over,
  };
}

/** The summary the audit trail keeps of an agent. */
const summary = (a: AgentRecord, suspended = false) => ({
  name: a.name,
  tier: a.tier,
  roles: a.roles,
  tags: a.tags,
  parentId: a.parentId ?? null,
  suspended,
});

/** What an inserted agent reads back as: no suspension, no token floor. */
const stored = (a: AgentRecord): AgentRecord => ({
  ...a,
  suspendedAt: undefined,
  tokensValidAfter: 0,
  parentId: a.parentId,
});

describeBackends("agents", (opened) => {
  async function seeded() {
    const o = opened();
    await seedOrg(o, "org-a");
    await seedOrg(o, "org-b");
    return { o, repo: agents(o) };
  }

  it("inserts an agent with its audit row (no change row), refusing a second of the same name in the org", async () => {
    const { o, repo } = await seeded();
    const a = agent("agt-1", { name: "bot" });
    expect(await repo.insert(a)).toBe(true);
    expect(await repo.insert(agent("agt-2", { name: "bot" }))).toBe(false);
    // Another org may use the name.
    expect(await repo.insert(agent("agt-3", { name: "bot", orgId: "org-b" }))).toBe(true);
    expect(await repo.get("org-a", "agt-1")).toEqual(stored(a));
    expect(await repo.get("org-a", "agt-2")).toBeUndefined();
    expect(await changes(o)).toEqual([]);
    expect(await audits(o)).toEqual([
      {
        org_id: "org-a",
        action: "agent.create",
        target_kind: "agent",
        target_id: "agt-1",
        before: null,
        after: summary(a),
      },
      expect.objectContaining({ org_id: "org-b", action: "agent.create", target_id: "agt-3" }),
    ]);
  });

  it("looks agents up within their org, by id in any org, and lists an org's by creation", async () => {
    const { repo } = await seeded();
    const parent = agent("agt-p", { createdAt: 2000 });
    const child = agent("agt-c", { createdAt: 1000, parentId: "agt-p", roles: [], tags: [] });
    const twin = agent("agt-b", { createdAt: 1000 }); // same second: ordered by id
    const foreign = agent("agt-f", { orgId: "org-b" });
    for (const a of [parent, child, twin, foreign]) expect(await repo.insert(a)).toBe(true);
    expect(await repo.get("org-a", "agt-c")).toEqual(stored(child));
    expect(await repo.get("org-b", "agt-c")).toBeUndefined();
    expect(await repo.get("org-a", "agt-f")).toBeUndefined();
    expect(await repo.byId("agt-f")).toEqual(stored(foreign));
    expect(await repo.byId("agt-none")).toBeUndefined();
    expect((await repo.list("org-a")).map((a) => a.id)).toEqual(["agt-b", "agt-c", "agt-p"]);
    expect(await repo.list("org-b")).toEqual([stored(foreign)]);
    expect(await repo.list("org-none")).toEqual([]);
  });

  it("updates only the fields given, removes a parent with null, audits before and after, records a change", async () => {
    const { o, repo } = await seeded();
    await repo.insert(agent("agt-p"));
    const a = agent("agt-1", { parentId: "agt-p" });
    await repo.insert(a);
    const tiered = await repo.update("org-a", "agt-1", { tier: "trusted" });
    expect(tiered).toEqual({ ...stored(a), tier: "trusted" });
    const rest = await repo.update("org-a", "agt-1", { roles: ["writer"], tags: [], parentId: null });
    expect(rest).toEqual({ ...stored(a), tier: "trusted", roles: ["writer"], tags: [], parentId: undefined });
    expect(await repo.get("org-a", "agt-1")).toEqual(rest);
    // Another org's agent, or none: undefined, nothing written.
    expect(await repo.update("org-b", "agt-1", { tier: "unverified" })).toBeUndefined();
    expect(await repo.update("org-a", "agt-none", { tier: "unverified" })).toBeUndefined();
    // One change per update that happened (processes caching the agent drop it); none for a miss.
    expect(await changes(o)).toEqual([
      { kind: "agent", org_id: "org-a", ref: "agt-1" },
      { kind: "agent", org_id: "org-a", ref: "agt-1" },
    ]);
    const rows = (await audits(o)).filter((r) => r.action === "agent.update");
    expect(rows).toEqual([
      {
        org_id: "org-a",
        action: "agent.update",
        target_kind: "agent",
        target_id: "agt-1",
        before: summary(a),
        after: summary({ ...a, tier: "trusted" }),
      },
      {
        org_id: "org-a",
        action: "agent.update",
        target_kind: "agent",
        target_id: "agt-1",
        before: summary({ ...a, tier: "trusted" }),
        after: summary({ ...a, tier: "trusted", roles: ["writer"], tags: [], parentId: undefined }),
      },
    ]);
  });

  it("suspends (raising the token floor, never lowering it) and resumes (keeping it), with change and audit rows", async () => {
    const { o, repo } = await seeded();
    const a = agent("agt-1");
    await repo.insert(a);
    expect(await repo.setSuspended("org-a", "agt-1", true, 5000)).toEqual({
      ...stored(a),
      suspendedAt: 5000,
      tokensValidAfter: 5000,
    });
    expect(await repo.setSuspended("org-a", "agt-1", false, 6000)).toEqual({
      ...stored(a),
      tokensValidAfter: 5000,
    });
    // Suspended again at an earlier second (a clock behind): the floor stays.
    expect(await repo.setSuspended("org-a", "agt-1", true, 4000)).toEqual({
      ...stored(a),
      suspendedAt: 4000,
      tokensValidAfter: 5000,
    });
    expect(await repo.setSuspended("org-b", "agt-1", false, 7000)).toBeUndefined();
    expect(await repo.setSuspended("org-a", "agt-none", true, 7000)).toBeUndefined();
    expect((await repo.get("org-a", "agt-1"))?.suspendedAt).toBe(4000);
    expect(await changes(o)).toEqual([
      { kind: "agent", org_id: "org-a", ref: "agt-1" },
      { kind: "agent", org_id: "org-a", ref: "agt-1" },
      { kind: "agent", org_id: "org-a", ref: "agt-1" },
    ]);
    const rows = (await audits(o)).filter((r) => r.action !== "agent.create");
    expect(rows).toEqual([
      {
        org_id: "org-a",
        action: "agent.suspend",
        target_kind: "agent",
        target_id: "agt-1",
        before: null,
        after: summary(a, true),
      },
      {
        org_id: "org-a",
        action: "agent.resume",
        target_kind: "agent",
        target_id: "agt-1",
        before: null,
        after: summary(a, false),
      },
      expect.objectContaining({ action: "agent.suspend", after: summary(a, true) }),
    ]);
  });

  it("lists restricted agents: suspended, or resumed with a token floor", async () => {
    const { repo } = await seeded();
    for (const id of ["agt-1", "agt-2", "agt-3"]) await repo.insert(agent(id));
    await repo.insert(agent("agt-4", { orgId: "org-b" }));
    expect(await repo.restricted()).toEqual([]);
    await repo.setSuspended("org-a", "agt-1", true, 5000);
    await repo.setSuspended("org-a", "agt-2", true, 6000);
    await repo.setSuspended("org-a", "agt-2", false, 7000);
    await repo.setSuspended("org-b", "agt-4", true, 8000);
    const restricted = (await repo.restricted()).sort((x, y) => (x.id < y.id ? -1 : 1));
    expect(restricted.map((a) => [a.id, a.suspendedAt, a.tokensValidAfter])).toEqual([
      ["agt-1", 5000, 5000],
      ["agt-2", undefined, 6000],
      ["agt-4", 8000, 8000],
    ]);
  });

  it("deletes an agent leaving a tombstone, a change and an audit row; a sub-agent loses its parent", async () => {
    const { o, repo } = await seeded();
    const parent = agent("agt-p");
    await repo.insert(parent);
    await repo.insert(agent("agt-c", { parentId: "agt-p" }));
    expect(await repo.delete("org-b", "agt-p", 9000)).toBe(false); // another org's
    expect(await repo.delete("org-a", "agt-none", 9000)).toBe(false);
    expect(await repo.tombstones()).toEqual([]);
    expect(await changes(o)).toEqual([]);
    expect(await repo.delete("org-a", "agt-p", 9000)).toBe(true);
    expect(await repo.get("org-a", "agt-p")).toBeUndefined();
    expect(await repo.byId("agt-p")).toBeUndefined();
    expect((await repo.get("org-a", "agt-c"))?.parentId).toBeUndefined();
    expect(await repo.tombstones()).toEqual([{ id: "agt-p", deletedAt: 9000 }]);
    expect(await repo.delete("org-a", "agt-p", 9500)).toBe(false); // already gone
    expect(await changes(o)).toEqual([{ kind: "agent", org_id: "org-a", ref: "agt-p" }]);
    expect((await audits(o)).filter((r) => r.action === "agent.delete")).toEqual([
      {
        org_id: "org-a",
        action: "agent.delete",
        target_kind: "agent",
        target_id: "agt-p",
        before: summary(parent),
        after: null,
      },
    ]);
  });

  it("replaces the tombstone when an agent of the same id is deleted again", async () => {
    const { repo } = await seeded();
    await repo.insert(agent("agt-1"));
    await repo.delete("org-a", "agt-1", 9000);
    await repo.insert(agent("agt-1"));
    expect(await repo.delete("org-a", "agt-1", 9900)).toBe(true);
    expect(await repo.tombstones()).toEqual([{ id: "agt-1", deletedAt: 9900 }]);
  });
});

/** Two pools on one database: two replicas, each with its own connections. */
describe.skipIf(pgSkipReason !== undefined)("agents across two replicas [postgres]", () => {
  let pg: Awaited<ReturnType<typeof openTestPg>> | undefined;
  let other: PgDb | undefined;
  const both = () => {
    if (!pg || !other) throw new Error("not opened");
    return { a: new PgAgentRepository(pg.db), b: new PgAgentRepository(other), db: pg.db };
  };
  beforeAll(async () => {
    pg = await openTestPg();
    other = new PgDb(pg.url);
  });
  afterAll(async () => {
    await other?.close();
    await pg?.drop();
  });
  beforeEach(async () => {
    const db = both().db;
    await db.query("TRUNCATE agents, agent_tombstones, changes, admin_audit, orgs CASCADE");
    await db.query("INSERT INTO orgs (id, name, policy_revision, created_at) VALUES ('org-a', 'a', 0, 0)");
  });

  it("a reader on the other replica sees a suspension whole, with its change, or not at all", async () => {
    const { a, b, db } = both();
    const ids = Array.from({ length: 20 }, (_, i) => `agt-${i}`);
    for (const id of ids) await a.insert(agent(id));
    let reading = true;
    let reads = 0;
    const reader = (async () => {
      while (reading) {
        for (const r of await b.restricted()) {
          // The suspension and its floor land together, and its change is already readable.
          expect(r.suspendedAt).toBe(5000);
          expect(r.tokensValidAfter).toBe(5000);
          const logged = await db.query("SELECT 1 FROM changes WHERE kind = 'agent' AND ref = $1", [r.id]);
          expect(logged).toHaveLength(1);
        }
        reads++;
      }
    })();
    await Promise.all(ids.map((id) => a.setSuspended("org-a", id, true, 5000)));
    reading = false;
    await reader;
    expect(reads).toBeGreaterThan(0);
    expect(await b.restricted()).toHaveLength(ids.length);
  });

  it("an agent deleted on one replica is, on the other, either still there or gone with its tombstone", async () => {
    const { a, b } = both();
    const ids = Array.from({ length: 20 }, (_, i) => `agt-${i}`);
    for (const id of ids) await a.insert(agent(id));
    let reading = true;
    let reads = 0;
    const reader = (async () => {
      while (reading) {
        for (const id of ids) {
          if ((await b.byId(id)) !== undefined) continue;
          expect((await b.tombstones()).map((t) => t.id)).toContain(id);
        }
        reads++;
      }
    })();
    // Each agent deleted from both replicas at once: exactly one delete succeeds.
    const results = await Promise.all(
      ids.flatMap((id) => [a.delete("org-a", id, 9000), b.delete("org-a", id, 9000)]),
    );
    reading = false;
    await reader;
    expect(reads).toBeGreaterThan(0);
    expect(results.filter(Boolean)).toHaveLength(ids.length);
    expect(await b.list("org-a")).toEqual([]);
    expect(await a.tombstones()).toHaveLength(ids.length);
    const logged = await both().db.query("SELECT ref FROM changes WHERE kind = 'agent'");
    expect(logged).toHaveLength(ids.length);
  });
});
