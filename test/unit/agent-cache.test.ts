import { describe, expect, it } from "vitest";
import { AgentCache } from "../../src/core/agent-cache.js";
import type { AgentRecord } from "../../src/store/agents.js";

const agent = (id: string, orgId = "org_a", tier: AgentRecord["tier"] = "verified"): AgentRecord => ({
  id,
  orgId,
  name: id,
  tier,
  roles: [],
  tags: [],
  createdAt: 1,
});

/** A store of agents that counts its reads, and can hold one read until released. */
function fakeStore(rows: Map<string, AgentRecord>) {
  let reads = 0;
  let gate: Promise<void> | undefined;
  return {
    reads: () => reads,
    hold() {
      let release = () => {};
      gate = new Promise((r) => {
        release = r;
      });
      return () => {
        gate = undefined;
        release();
      };
    },
    repo: {
      byId: async (id: string) => {
        reads++;
        const row = rows.get(id);
        if (gate) await gate;
        return row;
      },
    },
  };
}

describe("AgentCache", () => {
  it("reads an agent once, then answers from memory, for its own org only", async () => {
    const rows = new Map([["agt_1", agent("agt_1")]]);
    const s = fakeStore(rows);
    const cache = new AgentCache(s.repo as never);
    expect((await cache.get("org_a", "agt_1"))?.id).toBe("agt_1");
    expect((await cache.get("org_a", "agt_1"))?.id).toBe("agt_1");
    expect(s.reads()).toBe(1);
    // Another org never sees it, from memory or not.
    expect(await cache.get("org_b", "agt_1")).toBeUndefined();
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 1, size: 1 });
  });

  it("never caches an unknown agent: one created later is found at once", async () => {
    const rows = new Map<string, AgentRecord>();
    const s = fakeStore(rows);
    const cache = new AgentCache(s.repo as never);
    expect(await cache.get("org_a", "agt_new")).toBeUndefined();
    rows.set("agt_new", agent("agt_new"));
    expect((await cache.get("org_a", "agt_new"))?.id).toBe("agt_new");
  });

  it("drops a changed agent, and does not keep a row read while a change landed", async () => {
    const rows = new Map([["agt_1", agent("agt_1", "org_a", "verified")]]);
    const s = fakeStore(rows);
    const cache = new AgentCache(s.repo as never);
    await cache.get("org_a", "agt_1");
    rows.set("agt_1", agent("agt_1", "org_a", "trusted"));
    cache.forget("agt_1");
    expect((await cache.get("org_a", "agt_1"))?.tier).toBe("trusted");
    // A read in flight when the agent changes answers what it read, but is not kept.
    cache.forget("agt_1");
    const release = s.hold();
    const inFlight = cache.get("org_a", "agt_1");
    rows.set("agt_1", agent("agt_1", "org_a", "privileged"));
    cache.forget("agt_1");
    release();
    expect((await inFlight)?.tier).toBe("trusted");
    expect((await cache.get("org_a", "agt_1"))?.tier).toBe("privileged");
  });

  it("cached: the held agent at once, for its own org only; nothing when not held or dropped", async () => {
    const rows = new Map([["agt_1", agent("agt_1")]]);
    const s = fakeStore(rows);
    const cache = new AgentCache(s.repo as never);
    expect(cache.cached("org_a", "agt_1")).toBeUndefined(); // never read: the store answers (get)
    await cache.get("org_a", "agt_1");
    expect(cache.cached("org_a", "agt_1")?.id).toBe("agt_1");
    expect(cache.cached("org_b", "agt_1")).toBeUndefined();
    cache.forget("agt_1");
    expect(cache.cached("org_a", "agt_1")).toBeUndefined();
    expect(s.reads()).toBe(1);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, size: 0 });
  });

  it("holds at most its bound, dropping the least recently used", async () => {
    const rows = new Map(["a", "b", "c"].map((id) => [id, agent(id)]));
    const s = fakeStore(rows);
    const cache = new AgentCache(s.repo as never, 2);
    await cache.get("org_a", "a");
    await cache.get("org_a", "b");
    await cache.get("org_a", "a"); // a is now the most recent
    await cache.get("org_a", "c"); // drops b
    expect(cache.stats().size).toBe(2);
    const before = s.reads();
    await cache.get("org_a", "a");
    expect(s.reads()).toBe(before);
    await cache.get("org_a", "b");
    expect(s.reads()).toBe(before + 1);
  });
});
