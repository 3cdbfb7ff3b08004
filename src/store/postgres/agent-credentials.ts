import {
  type AgentCredentialDbRow,
  type AgentCredentialState,
  type AgentKeyRow,
  type KeyDbRow,
  keyRegisteredAudit,
  keyRemovedAudit,
  secretSetAudit,
  toKey,
} from "../agent-credentials.js";
import { toRecord } from "../agents.js";
import type { EndedSession, SessionEnd } from "../session-ends.js";
import { recordAudit } from "./changes.js";
import type { PgDb } from "./pg-db.js";
import { endSessionsIn } from "./session-ends.js";

/**
 * AgentCredentialRepository on PostgreSQL: agent secrets, public keys and used client-assertion
 * ids. Every write that two replicas could race is decided by one statement: a conditional
 * UPDATE or DELETE ... RETURNING, or an INSERT ... ON CONFLICT DO NOTHING RETURNING.
 */
export class PgAgentCredentialRepository {
  constructor(private readonly db: PgDb) {}

  /** Any org's agent by id: secrets and assertions name the agent, not its org. */
  async find(agentId: string): Promise<AgentCredentialState | undefined> {
    const r = await this.db.one<AgentCredentialDbRow>("SELECT * FROM agents WHERE id = $1", [agentId]);
    if (!r) return undefined;
    return { agent: toRecord(r), secretDigest: r.secret_digest, suspendedAt: r.suspended_at };
  }

  async exists(orgId: string, agentId: string): Promise<boolean> {
    const row = await this.db.one("SELECT 1 AS one FROM agents WHERE org_id = $1 AND id = $2", [
      orgId,
      agentId,
    ]);
    return row !== undefined;
  }

  /**
   * Replaces the agent's secret digest and, in the same transaction, ends every session of the
   * agent; undefined when the org has no such agent, else the sessions ended. The agent's row
   * is locked first, so a login re-checking the secret under a share lock waits for this and
   * then sees the new digest, and a session stored before it is among those ended here.
   */
  async replaceSecret(
    orgId: string,
    agentId: string,
    digest: Buffer,
    end: SessionEnd,
  ): Promise<EndedSession[] | undefined> {
    return this.db.tx(async (sql) => {
      const before = await sql.one<{ configured: boolean }>(
        "SELECT secret_digest IS NOT NULL AS configured FROM agents WHERE org_id = $1 AND id = $2 FOR UPDATE",
        [orgId, agentId],
      );
      if (!before) return undefined;
      await sql.query("UPDATE agents SET secret_digest = $1 WHERE org_id = $2 AND id = $3", [
        digest,
        orgId,
        agentId,
      ]);
      await recordAudit(sql, secretSetAudit(orgId, agentId, before.configured));
      return endSessionsIn(sql, agentId, undefined, end);
    });
  }

  /** Inserts a key; false when the org already has that key (same thumbprint), for any of its agents. */
  async insertKey(key: AgentKeyRow, now: number): Promise<boolean> {
    return this.db.tx(async (sql) => {
      const added = await sql.one(
        `INSERT INTO agent_keys (org_id, id, agent_id, alg, public_jwk, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id`,
        [key.orgId, key.id, key.agentId, key.alg, key.publicJwk, now],
      );
      if (!added) return false;
      await recordAudit(sql, keyRegisteredAudit(key));
      return true;
    });
  }

  /**
   * True while the agent (of that org) still has the key registered. Inside a transaction the
   * share lock holds off a concurrent removeKey until that transaction ends.
   */
  async hasKey(orgId: string, agentId: string, keyId: string): Promise<boolean> {
    const row = await this.db.one(
      "SELECT 1 AS one FROM agent_keys WHERE org_id = $1 AND agent_id = $2 AND id = $3 FOR SHARE",
      [orgId, agentId, keyId],
    );
    return row !== undefined;
  }

  /**
   * True while `digest` is still the agent's secret. Inside a transaction the share lock holds
   * off a concurrent replaceSecret until that transaction ends.
   */
  async secretIs(agentId: string, digest: Buffer): Promise<boolean> {
    const row = await this.db.one(
      "SELECT 1 AS one FROM agents WHERE id = $1 AND secret_digest = $2 FOR SHARE",
      [agentId, digest],
    );
    return row !== undefined;
  }

  /**
   * Removes the agent's key and, in the same transaction, ends the sessions it started;
   * undefined when the agent has no such key (or another replica removed it first).
   */
  async removeKey(
    agentId: string,
    keyId: string,
    credential: string,
    end: SessionEnd,
  ): Promise<EndedSession[] | undefined> {
    return this.db.tx(async (sql) => {
      const gone = await sql.one<{ org_id: string }>(
        "DELETE FROM agent_keys WHERE agent_id = $1 AND id = $2 RETURNING org_id",
        [agentId, keyId],
      );
      if (!gone) return undefined;
      const agent = await sql.one<{ org_id: string }>("SELECT org_id FROM agents WHERE id = $1", [agentId]);
      await recordAudit(sql, keyRemovedAudit(agent?.org_id ?? null, agentId, keyId));
      return endSessionsIn(sql, agentId, credential, end);
    });
  }

  async keysOf(agentId: string): Promise<AgentKeyRow[]> {
    const rows = await this.db.query<KeyDbRow>(
      `SELECT id, org_id, agent_id, alg, public_jwk FROM agent_keys WHERE agent_id = $1
        ORDER BY created_at, id COLLATE "C"`,
      [agentId],
    );
    return rows.map(toKey);
  }

  /**
   * Records a used assertion id; false when it was already there. The primary key decides
   * between replicas: of two inserting the same id at once, exactly one gets its row back.
   */
  async recordAssertion(key: string, agentId: string, expiresAt: number): Promise<boolean> {
    const row = await this.db.one(
      "INSERT INTO used_assertions (jti, agent_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING jti",
      [key, agentId, expiresAt],
    );
    return row !== undefined;
  }

  /** Forgets assertion ids that expired before `before` (they would be refused as expired anyway). */
  async sweepAssertions(before: number): Promise<void> {
    await this.db.query("DELETE FROM used_assertions WHERE expires_at < $1", [before]);
  }
}
