import { AdminAuditLog, type AuditChange } from "./admin-audit.js";
import { type AgentDbRow, type AgentRecord, toRecord } from "./agents.js";
import type { Db } from "./db.js";
import { type EndedSession, endSessions, type SessionEnd } from "./session-ends.js";

/** An agent with the credential state that agents.ts does not expose. */
export interface AgentCredentialState {
  readonly agent: AgentRecord;
  readonly secretDigest: Buffer | null;
  /** Seconds since the epoch; null while the agent is active. */
  readonly suspendedAt: number | null;
}

/** A registered public key of an agent, its JWK as stored. Unique within the org. */
export interface AgentKeyRow {
  readonly id: string;
  readonly orgId: string;
  readonly agentId: string;
  readonly alg: "EdDSA" | "RS256";
  readonly publicJwk: string;
}

/** An agents row with its secret digest (both backends). */
export type AgentCredentialDbRow = AgentDbRow & { secret_digest: Buffer | null };

export interface KeyDbRow {
  id: string;
  org_id: string;
  agent_id: string;
  alg: "EdDSA" | "RS256";
  public_jwk: string;
}

export const toKey = (r: KeyDbRow): AgentKeyRow => ({
  id: r.id,
  orgId: r.org_id,
  agentId: r.agent_id,
  alg: r.alg,
  publicJwk: r.public_jwk,
});

/**
 * Agent secrets, public keys and used client-assertion ids. Writes that need an org are
 * scoped to it in SQL, so an agent of another org is simply not found.
 */
export class AgentCredentialRepository {
  // Prepared once: find, keysOf and recordAssertion run on every agent authentication.
  private readonly byId;
  private readonly inOrg;
  private readonly setDigest;
  private readonly addKey;
  private readonly dropKey;
  private readonly keysById;
  private readonly keyInOrg;
  private readonly digestIs;
  private readonly addAssertion;
  private readonly dropAssertions;

  private readonly audit: AdminAuditLog;

  constructor(private readonly db: Db) {
    this.audit = new AdminAuditLog(db);
    this.byId = db.prepare<[string], AgentCredentialDbRow>("SELECT * FROM agents WHERE id = ?");
    this.inOrg = db.prepare<[string, string], { one: number }>(
      "SELECT 1 AS one FROM agents WHERE org_id = ? AND id = ?",
    );
    this.setDigest = db.prepare<[Buffer, string, string]>(
      "UPDATE agents SET secret_digest = ? WHERE org_id = ? AND id = ?",
    );
    this.addKey = db.prepare<[string, string, string, string, string, number]>(
      `INSERT INTO agent_keys (org_id, id, agent_id, alg, public_jwk, created_at)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    );
    this.dropKey = db.prepare<[string, string]>("DELETE FROM agent_keys WHERE agent_id = ? AND id = ?");
    this.keysById = db.prepare<[string], KeyDbRow>(
      "SELECT id, org_id, agent_id, alg, public_jwk FROM agent_keys WHERE agent_id = ? ORDER BY created_at, id",
    );
    this.keyInOrg = db.prepare<[string, string, string], { one: number }>(
      "SELECT 1 AS one FROM agent_keys WHERE org_id = ? AND agent_id = ? AND id = ?",
    );
    this.digestIs = db.prepare<[string, Buffer], { one: number }>(
      "SELECT 1 AS one FROM agents WHERE id = ? AND secret_digest = ?",
    );
    this.addAssertion = db.prepare<[string, string, number]>(
      "INSERT INTO used_assertions (jti, agent_id, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
    );
    this.dropAssertions = db.prepare<[number]>("DELETE FROM used_assertions WHERE expires_at < ?");
  }

  /** Any org's agent by id: secrets and assertions name the agent, not its org. */
  find(agentId: string): AgentCredentialState | undefined {
    const r = this.byId.get(agentId);
    if (!r) return undefined;
    return { agent: toRecord(r), secretDigest: r.secret_digest, suspendedAt: r.suspended_at };
  }

  exists(orgId: string, agentId: string): boolean {
    return this.inOrg.get(orgId, agentId) !== undefined;
  }

  /**
   * Replaces the agent's secret digest and, in the same transaction, ends every session of the
   * agent (whoever held the old secret may hold a session too); undefined when the org has no
   * such agent, else the sessions ended.
   */
  replaceSecret(orgId: string, agentId: string, digest: Buffer, end: SessionEnd): EndedSession[] | undefined {
    return this.db.transaction(() => {
      const before = this.byId.get(agentId);
      if (this.setDigest.run(digest, orgId, agentId).changes !== 1) return undefined;
      this.audit.record(secretSetAudit(orgId, agentId, before?.secret_digest != null));
      return endSessions(this.db, agentId, undefined, end);
    })();
  }

  /** Inserts a key; false when the org already has that key (same thumbprint), for any of its agents. */
  insertKey(key: AgentKeyRow, now: number): boolean {
    return this.db.transaction(() => {
      if (this.addKey.run(key.orgId, key.id, key.agentId, key.alg, key.publicJwk, now).changes !== 1)
        return false;
      this.audit.record(keyRegisteredAudit(key));
      return true;
    })();
  }

  /** True while the agent (of that org) still has the key registered. */
  hasKey(orgId: string, agentId: string, keyId: string): boolean {
    return this.keyInOrg.get(orgId, agentId, keyId) !== undefined;
  }

  /** True while `digest` is still the agent's secret. */
  secretIs(agentId: string, digest: Buffer): boolean {
    return this.digestIs.get(agentId, digest) !== undefined;
  }

  /**
   * Removes the agent's key and, in the same transaction, ends the sessions it started (those
   * recorded under `credential`, and those from before sessions recorded theirs); undefined
   * when the agent has no such key, else the sessions ended.
   */
  removeKey(agentId: string, keyId: string, credential: string, end: SessionEnd): EndedSession[] | undefined {
    return this.db.transaction(() => {
      const orgId = this.byId.get(agentId)?.org_id ?? null;
      if (this.dropKey.run(agentId, keyId).changes !== 1) return undefined;
      this.audit.record(keyRemovedAudit(orgId, agentId, keyId));
      return endSessions(this.db, agentId, credential, end);
    })();
  }

  keysOf(agentId: string): AgentKeyRow[] {
    return this.keysById.all(agentId).map(toKey);
  }

  /**
   * Records a used assertion id; false when it was already there. The primary key makes this
   * atomic across every process on the database, so one assertion is accepted once.
   */
  recordAssertion(key: string, agentId: string, expiresAt: number): boolean {
    return this.addAssertion.run(key, agentId, expiresAt).changes === 1;
  }

  /** Forgets assertion ids that expired before `before` (they would be refused as expired anyway). */
  sweepAssertions(before: number): void {
    this.dropAssertions.run(before);
  }
}

/** The audit record of a new agent secret (both backends). */
export function secretSetAudit(orgId: string, agentId: string, hadSecret: boolean): AuditChange {
  return {
    orgId,
    action: "agent_secret.set",
    targetKind: "agent",
    targetId: agentId,
    before: { configured: hadSecret },
    after: { configured: true },
  };
}

/** The audit record of a registered key (both backends). */
export function keyRegisteredAudit(key: AgentKeyRow): AuditChange {
  return {
    orgId: key.orgId,
    action: "agent_key.register",
    targetKind: "agent_key",
    targetId: key.id,
    after: { agentId: key.agentId, alg: key.alg },
  };
}

/** The audit record of a removed key (both backends). */
export function keyRemovedAudit(orgId: string | null, agentId: string, keyId: string): AuditChange {
  return { orgId, action: "agent_key.remove", targetKind: "agent_key", targetId: keyId, before: { agentId } };
}
