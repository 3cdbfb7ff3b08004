import type { Tier } from "../domain/tiers.js";
import type { Db } from "./db.js";
import { fromJsonList, toJsonList } from "./rows.js";

export interface AgentRecord {
  readonly id: string;
  readonly orgId: string;
  readonly name: string;
  readonly tier: Tier;
  readonly roles: readonly string[];
  readonly tags: readonly string[];
  /** Seconds since the epoch. */
  readonly createdAt: number;
}

interface AgentDbRow {
  id: string;
  org_id: string;
  name: string;
  tier: Tier;
  roles: string;
  tags: string;
  created_at: number;
}

function toRecord(r: AgentDbRow): AgentRecord {
  return {
    id: r.id,
    orgId: r.org_id,
    name: r.name,
    tier: r.tier,
    roles: fromJsonList(r.roles),
    tags: fromJsonList(r.tags),
    createdAt: r.created_at,
  };
}

/** Agents, always looked up within one org: nothing crosses orgs. */
export class AgentRepository {
  constructor(private readonly db: Db) {}

  /** Inserts an agent; returns false when the org already has an agent of that name. */
  insert(a: AgentRecord): boolean {
    const info = this.db
      .prepare(
        `INSERT INTO agents (id, org_id, name, tier, roles, tags, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (org_id, name) DO NOTHING`,
      )
      .run(a.id, a.orgId, a.name, a.tier, toJsonList(a.roles), toJsonList(a.tags), a.createdAt);
    return info.changes === 1;
  }

  get(orgId: string, id: string): AgentRecord | undefined {
    const row = this.db
      .prepare<[string, string], AgentDbRow>("SELECT * FROM agents WHERE org_id = ? AND id = ?")
      .get(orgId, id);
    return row && toRecord(row);
  }

  list(orgId: string): AgentRecord[] {
    return this.db
      .prepare<[string], AgentDbRow>("SELECT * FROM agents WHERE org_id = ? ORDER BY created_at, id")
      .all(orgId)
      .map(toRecord);
  }
}
