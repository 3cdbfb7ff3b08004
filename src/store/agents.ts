import type { Tier } from "../domain/tiers.js";
import { AdminAuditLog, type AuditChange, type AuditSummary } from "./admin-audit.js";
import { ChangeLog } from "./changes.js";
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
  /** Seconds since the epoch when it was suspended; undefined when active. */
  readonly suspendedAt?: number | undefined;
  /** Tokens issued at or before this second are dead (0: none). */
  readonly tokensValidAfter?: number | undefined;
  /** The agent this one is a sub-agent of: the only agent that may mint tokens for it. */
  readonly parentId?: string | undefined;
}

/** An agents row as SQLite returns it. */
export interface AgentDbRow {
  id: string;
  org_id: string;
  name: string;
  tier: Tier;
  roles: string;
  tags: string;
  created_at: number;
  suspended_at: number | null;
  tokens_valid_after: number;
  parent_id: string | null;
}

/** An agents row as the domain sees it. */
export function toRecord(r: AgentDbRow): AgentRecord {
  return {
    id: r.id,
    orgId: r.org_id,
    name: r.name,
    tier: r.tier,
    roles: fromJsonList(r.roles),
    tags: fromJsonList(r.tags),
    createdAt: r.created_at,
    suspendedAt: r.suspended_at ?? undefined,
    tokensValidAfter: r.tokens_valid_after,
    parentId: r.parent_id ?? undefined,
  };
}

/** What the audit trail keeps of an agent. */
function agentSummary(a: AgentRecord): AuditSummary {
  return {
    name: a.name,
    tier: a.tier,
    roles: a.roles,
    tags: a.tags,
    parentId: a.parentId ?? null,
    suspended: a.suspendedAt !== undefined,
  };
}

/** The audit record of an agent created, changed, suspended or resumed (both backends). */
export function agentAudit(action: string, after: AgentRecord, before?: AgentRecord): AuditChange {
  return {
    orgId: after.orgId,
    action,
    targetKind: "agent",
    targetId: after.id,
    before: before && agentSummary(before),
    after: agentSummary(after),
  };
}

/** The audit record of a deleted agent (both backends). */
export function agentDeletedAudit(before: AgentRecord): AuditChange {
  return {
    orgId: before.orgId,
    action: "agent.delete",
    targetKind: "agent",
    targetId: before.id,
    before: agentSummary(before),
  };
}

/** Agents, always looked up within one org: nothing crosses orgs. */
export class AgentRepository {
  private readonly audit: AdminAuditLog;
  private readonly changes: ChangeLog;
  // Prepared once: MintToken, refresh and token checks look agents up on every call.
  private readonly inOrg;
  private readonly anyOrg;

  constructor(private readonly db: Db) {
    this.changes = new ChangeLog(db);
    this.audit = new AdminAuditLog(db);
    this.inOrg = db.prepare<[string, string], AgentDbRow>("SELECT * FROM agents WHERE org_id = ? AND id = ?");
    this.anyOrg = db.prepare<[string], AgentDbRow>("SELECT * FROM agents WHERE id = ?");
  }

  /** An agent by id whatever its org (for token checks); undefined when gone. */
  byId(id: string): AgentRecord | undefined {
    const row = this.anyOrg.get(id);
    return row && toRecord(row);
  }

  /** Agents whose tokens need checking: suspended, or with a token floor. */
  restricted(): AgentRecord[] {
    return this.db
      .prepare<[], AgentDbRow>(
        "SELECT * FROM agents WHERE suspended_at IS NOT NULL OR tokens_valid_after > 0",
      )
      .all()
      .map(toRecord);
  }

  /**
   * Changes tier, roles, tags or parent (`parentId: null` removes it); returns the updated
   * agent, or undefined when it is not in the org.
   */
  update(
    orgId: string,
    id: string,
    patch: {
      tier?: string | undefined;
      roles?: readonly string[] | undefined;
      tags?: readonly string[] | undefined;
      parentId?: string | null | undefined;
    },
  ): AgentRecord | undefined {
    return this.db.transaction(() => {
      const cur = this.get(orgId, id);
      if (!cur) return undefined;
      this.db
        .prepare("UPDATE agents SET tier = ?, roles = ?, tags = ?, parent_id = ? WHERE id = ?")
        .run(
          patch.tier ?? cur.tier,
          toJsonList(patch.roles ?? cur.roles),
          toJsonList(patch.tags ?? cur.tags),
          patch.parentId === undefined ? (cur.parentId ?? null) : patch.parentId,
          id,
        );
      const after = this.get(orgId, id);
      if (after) {
        // Processes that cached the agent (for MintToken and AuthZEN) drop it.
        this.changes.record("agent", orgId, id);
        this.auditAgent("agent.update", after, cur);
      }
      return after;
    })();
  }

  /** Suspends (tokens issued until `now` die) or resumes an agent; records an "agent" change. */
  setSuspended(orgId: string, id: string, suspended: boolean, now: number): AgentRecord | undefined {
    return this.db.transaction(() => {
      const sql = suspended
        ? "UPDATE agents SET suspended_at = ?, tokens_valid_after = max(tokens_valid_after, ?) WHERE org_id = ? AND id = ?"
        : "UPDATE agents SET suspended_at = NULL WHERE ? IS NOT NULL AND ? IS NOT NULL AND org_id = ? AND id = ?";
      if (this.db.prepare(sql).run(now, now, orgId, id).changes === 0) return undefined;
      this.changes.record("agent", orgId, id);
      const after = this.get(orgId, id);
      if (after) this.auditAgent(suspended ? "agent.suspend" : "agent.resume", after);
      return after;
    })();
  }

  /**
   * Deletes an agent and leaves a tombstone in the same transaction: its tokens die with it,
   * in every process and after any restart (the change tells running processes at once).
   */
  delete(orgId: string, id: string, now: number): boolean {
    return this.db.transaction(() => {
      const before = this.get(orgId, id);
      const gone =
        this.db.prepare("DELETE FROM agents WHERE org_id = ? AND id = ?").run(orgId, id).changes === 1;
      if (!gone || !before) return false;
      this.audit.record(agentDeletedAudit(before));
      this.db
        .prepare("INSERT OR REPLACE INTO agent_tombstones (id, org_id, deleted_at) VALUES (?, ?, ?)")
        .run(id, orgId, now);
      this.changes.record("agent", orgId, id);
      return true;
    })();
  }

  /** Deleted agents whose tokens may still be unexpired (their tombstones), with when they went. */
  tombstones(): { id: string; deletedAt: number }[] {
    return this.db
      .prepare<[], { id: string; deleted_at: number }>("SELECT id, deleted_at FROM agent_tombstones")
      .all()
      .map((r) => ({ id: r.id, deletedAt: r.deleted_at }));
  }

  /** Inserts an agent; returns false when the org already has an agent of that name. */
  insert(a: AgentRecord): boolean {
    return this.db.transaction(() => {
      const inserted = this.insertRow(a);
      if (inserted) this.auditAgent("agent.create", a);
      return inserted;
    })();
  }

  /** Records an agent change in the audit trail (inside the change's transaction). */
  private auditAgent(action: string, after: AgentRecord, before?: AgentRecord): void {
    this.audit.record(agentAudit(action, after, before));
  }

  private insertRow(a: AgentRecord): boolean {
    const info = this.db
      .prepare(
        `INSERT INTO agents (id, org_id, name, tier, roles, tags, created_at, parent_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (org_id, name) DO NOTHING`,
      )
      .run(
        a.id,
        a.orgId,
        a.name,
        a.tier,
        toJsonList(a.roles),
        toJsonList(a.tags),
        a.createdAt,
        a.parentId ?? null,
      );
    return info.changes === 1;
  }

  get(orgId: string, id: string): AgentRecord | undefined {
    const row = this.inOrg.get(orgId, id);
    return row && toRecord(row);
  }

  list(orgId: string): AgentRecord[] {
    return this.db
      .prepare<[string], AgentDbRow>("SELECT * FROM agents WHERE org_id = ? ORDER BY created_at, id")
      .all(orgId)
      .map(toRecord);
  }
}
