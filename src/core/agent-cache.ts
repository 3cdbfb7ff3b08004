import type { AgentRecord, AgentRepository } from "../store/agents.js";
import type { Async } from "../store/contract/async.js";

/** Agents held at most; beyond it the least recently used is dropped (about 0.5 KiB each). */
const MAX_CACHED = 50_000;

/**
 * The agents MintToken and AuthZEN subjects name, kept in memory after their first use so a
 * repeated call reads no database row (on PostgreSQL, no round trip). An agent is dropped when
 * it changes here or anywhere (its update, suspension, resumption or deletion records an
 * `agent` change with its id); an unknown agent is never cached, so a new one is found at once.
 */
export class AgentCache {
  private readonly byId = new Map<string, AgentRecord>();
  /** Lookups answered from memory, and from the store (read at scrape time). */
  private readonly counts = { hits: 0, misses: 0 };
  /** Bumped by every forget: a row read while one happened may be the old one, and is not kept. */
  private forgets = 0;

  constructor(
    private readonly agents: Async<AgentRepository>,
    private readonly max = MAX_CACHED,
  ) {}

  /**
   * The org's agent with this id when it is in memory, at once (no promise): undefined when it
   * is not held (or is another org's), for `get` to answer. MintToken's fast path.
   */
  cached(orgId: string, id: string): AgentRecord | undefined {
    const hit = this.byId.get(id);
    if (hit === undefined || hit.orgId !== orgId) return undefined;
    this.byId.delete(id);
    this.byId.set(id, hit);
    this.counts.hits++;
    return hit;
  }

  /** The org's agent with this id, if any: from memory when it was used before. */
  async get(orgId: string, id: string): Promise<AgentRecord | undefined> {
    const hit = this.byId.get(id);
    if (hit) {
      // Map order is the recency order: move it to the end.
      this.byId.delete(id);
      this.byId.set(id, hit);
      this.counts.hits++;
      return hit.orgId === orgId ? hit : undefined;
    }
    this.counts.misses++;
    const before = this.forgets;
    const agent = await this.agents.byId(id);
    if (!agent) return undefined;
    if (this.forgets === before) {
      this.byId.set(id, agent);
      if (this.byId.size > this.max) this.byId.delete(this.byId.keys().next().value as string);
    }
    return agent.orgId === orgId ? agent : undefined;
  }

  /** Drops an agent that changed (here, or seen in the change log). */
  forget(id: string): void {
    this.forgets++;
    this.byId.delete(id);
  }

  stats(): { readonly hits: number; readonly misses: number; readonly size: number } {
    return { ...this.counts, size: this.byId.size };
  }
}
