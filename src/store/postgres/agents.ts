import { type AgentDbRow, type AgentRecord, agentAudit, agentDeletedAudit, toRecord } from "../agents.js";
import { toJsonList } from "../rows.js";
import { recordAudit, recordChange } from "./changes.js";
import type { PgDb } from "./pg-db.js";

/** AgentRepository on PostgreSQL: agents, always looked up within one org, and their tombstones. */
export class PgAgentRepository {
  constructor(private readonly db: PgDb) {}

  /** An agent by id whatever its org (for token checks); undefined when gone. */
  async byId(id: string): Promise<AgentRecord | undefined> {
    const row = await this.db.one<AgentDbRow>("SELECT * FROM agents WHERE id = $1", [id]);
    return row && toRecord(row);
  }

  /** Agents whose tokens need checking: suspended, or with a token floor. */
  async restricted(): Promise<AgentRecord[]> {
    const rows = await this.db.query<AgentDbRow>(
      "SELECT * FROM agents WHERE suspended_at IS NOT NULL OR tokens_valid_after > 0",
    );
    return rows.map(toRecord);
  }

  /**
   * Changes tier, roles, tags or parent (`parentId: null` removes it); returns the updated
   * agent, or undefined when it is not in the org. The row is locked while the patch is
   * applied, so two concurrent patches of different fields both land.
   */
  async update(
    orgId: string,
    id: string,
    patch: {
      tier?: string | undefined;
      roles?: readonly string[] | undefined;
      tags?: readonly string[] | undefined;
      parentId?: string | null | undefined;
    },
  ): Promise<AgentRecord | undefined> {
    return this.db.tx(async (sql) => {
      const row = await sql.one<AgentDbRow>("SELECT * FROM agents WHERE org_id = $1 AND id = $2 FOR UPDATE", [
        orgId,
        id,
      ]);
      if (!row) return undefined;
      const cur = toRecord(row);
      const updated = await sql.one<AgentDbRow>(
        "UPDATE agents SET tier = $1, roles = $2, tags = $3, parent_id = $4 WHERE id = $5 RETURNING *",
        [
          patch.tier ?? cur.tier,
          toJsonList(patch.roles ?? cur.roles),
          toJsonList(patch.tags ?? cur.tags),
          patch.parentId === undefined ? (cur.parentId ?? null) : patch.parentId,
          id,
        ],
      );
      const after = updated && toRecord(updated);
      if (after) {
        // Processes that cached the agent (for MintToken and AuthZEN) drop it.
        await recordChange(sql, "agent", orgId, id);
        await recordAudit(sql, agentAudit("agent.update", after, cur));
      }
      return after;
    });
  }

  /** Suspends (tokens issued until `now` die) or resumes an agent; records an "agent" change. */
  async setSuspended(
    orgId: string,
    id: string,
    suspended: boolean,
    now: number,
  ): Promise<AgentRecord | undefined> {
    return this.db.tx(async (sql) => {
      const row = suspended
        ? await sql.one<AgentDbRow>(
            `UPDATE agents SET suspended_at = $1, tokens_valid_after = GREATEST(tokens_valid_after, $1)
              WHERE org_id = $2 AND id = $3 RETURNING *`,
            [now, orgId, id],
          )
        : await sql.one<AgentDbRow>(
            "UPDATE agents SET suspended_at = NULL WHERE org_id = $1 AND id = $2 RETURNING *",
            [orgId, id],
          );
      if (!row) return undefined;
      await recordChange(sql, "agent", orgId, id);
      const after = toRecord(row);
      await recordAudit(sql, agentAudit(suspended ? "agent.suspend" : "agent.resume", after));
      return after;
    });
  }

  /**
   * Deletes an agent and leaves a tombstone in the same transaction: its tokens die with it,
   * in every process and after any restart (the change tells running processes at once).
   * The DELETE ... RETURNING decides between two replicas deleting at once: one gets true.
   */
  async delete(orgId: string, id: string, now: number): Promise<boolean> {
    return this.db.tx(async (sql) => {
      const gone = await sql.one<AgentDbRow>("DELETE FROM agents WHERE org_id = $1 AND id = $2 RETURNING *", [
        orgId,
        id,
      ]);
      if (!gone) return false;
      await recordAudit(sql, agentDeletedAudit(toRecord(gone)));
      await sql.query(
        `INSERT INTO agent_tombstones (id, org_id, deleted_at) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET org_id = excluded.org_id, deleted_at = excluded.deleted_at`,
        [id, orgId, now],
      );
      await recordChange(sql, "agent", orgId, id);
      return true;
    });
  }

  /** Deleted agents whose tokens may still be unexpired (their tombstones), with when they went. */
  async tombstones(): Promise<{ id: string; deletedAt: number }[]> {
    const rows = await this.db.query<{ id: string; deleted_at: number }>(
      "SELECT id, deleted_at FROM agent_tombstones",
    );
    return rows.map((r) => ({ id: r.id, deletedAt: r.deleted_at }));
  }

  /** Inserts an agent; returns false when the org already has an agent of that name. */
  async insert(a: AgentRecord): Promise<boolean> {
    return this.db.tx(async (sql) => {
      const inserted = await sql.one<{ id: string }>(
        `INSERT INTO agents (id, org_id, name, tier, roles, tags, created_at, parent_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (org_id, name) DO NOTHING RETURNING id`,
        [
          a.id,
          a.orgId,
          a.name,
          a.tier,
          toJsonList(a.roles),
          toJsonList(a.tags),
          a.createdAt,
          a.parentId ?? null,
        ],
      );
      if (inserted) await recordAudit(sql, agentAudit("agent.create", a));
      return inserted !== undefined;
    });
  }

  async get(orgId: string, id: string): Promise<AgentRecord | undefined> {
    const row = await this.db.one<AgentDbRow>("SELECT * FROM agents WHERE org_id = $1 AND id = $2", [
      orgId,
      id,
    ]);
    return row && toRecord(row);
  }

  async list(orgId: string): Promise<AgentRecord[]> {
    const rows = await this.db.query<AgentDbRow>(
      `SELECT * FROM agents WHERE org_id = $1 ORDER BY created_at, id COLLATE "C"`,
      [orgId],
    );
    return rows.map(toRecord);
  }
}
