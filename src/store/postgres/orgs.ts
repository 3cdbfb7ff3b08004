import {
  apiKeyNotFound,
  CREDENTIAL_COLUMNS,
  type CredentialDbRow,
  type CredentialRow,
  credentialValues,
  keySummary,
  type OrgRow,
  orgCreateAudit,
  rateLimitSummary,
  toRow,
} from "../orgs.js";
import { recordAudit, recordChange } from "./changes.js";
import type { PgDb, Sql } from "./pg-db.js";

type NewOrg = { id: string; name: string; now: number };
type NewCredentials = readonly Omit<CredentialRow, "orgId">[];

const INSERT_CREDENTIAL = `INSERT INTO org_credentials (${CREDENTIAL_COLUMNS})
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`;

/**
 * Orgs and their API keys / admin tokens on PostgreSQL (see the SQLite OrgRepository). Every
 * write that another replica could make at the same moment is a conditional statement or
 * holds a row lock, so of two racing writes exactly one takes effect.
 */
export class PgOrgRepository {
  constructor(private readonly db: PgDb) {}

  /** Creates an org with its first API key and admin token, in one transaction. */
  async create(org: NewOrg, creds: NewCredentials): Promise<void> {
    await this.db.tx((sql) => insertOrg(sql, org, creds));
  }

  /**
   * Creates the org only when there is no org at all yet. The table lock (which every insert
   * into orgs waits for, and which two of these cannot hold at once) makes the check and the
   * insert one step: of replicas starting at once on an empty database exactly one creates it.
   */
  async createFirst(org: NewOrg, creds: NewCredentials): Promise<boolean> {
    return this.db.tx(async (sql) => {
      await sql.query("LOCK TABLE orgs IN SHARE ROW EXCLUSIVE MODE");
      if (await sql.one("SELECT 1 FROM orgs LIMIT 1")) return false;
      await insertOrg(sql, org, creds);
      return true;
    });
  }

  /** The unrevoked credential with this digest, if any (the caller checks expiry and grace). */
  async findCredential(digest: Buffer): Promise<CredentialRow | undefined> {
    const row = await this.db.one<CredentialDbRow>(
      "SELECT * FROM org_credentials WHERE digest = $1 AND revoked_at IS NULL",
      [digest],
    );
    return row && toRow(row);
  }

  /** Every unrevoked credential of every org (what each process holds in memory). */
  async liveCredentials(): Promise<CredentialRow[]> {
    const rows = await this.db.query<CredentialDbRow>(
      "SELECT * FROM org_credentials WHERE revoked_at IS NULL",
    );
    return rows.map(toRow);
  }

  /** Adds a scoped API key; records a credential change. */
  async addScopedKey(c: CredentialRow, now: number): Promise<void> {
    await this.db.tx(async (sql) => {
      await sql.query(INSERT_CREDENTIAL, credentialValues(c, now));
      await recordChange(sql, "credential", c.orgId, c.id);
      await recordAudit(sql, {
        orgId: c.orgId,
        action: "api_key.create",
        targetKind: "api_key",
        targetId: c.id,
        after: keySummary(c),
      });
    });
  }

  /** The org's scoped API keys, newest first (revoked ones included, for the record). */
  async scopedKeys(orgId: string): Promise<CredentialRow[]> {
    const rows = await this.db.query<CredentialDbRow>(
      `SELECT * FROM org_credentials WHERE org_id = $1 AND scopes IS NOT NULL
       ORDER BY created_at DESC, id COLLATE "C"`,
      [orgId],
    );
    return rows.map(toRow);
  }

  /** The org's live primary API key and admin token (the credentials without scopes). */
  async primaryCredentials(orgId: string): Promise<CredentialRow[]> {
    const rows = await this.db.query<CredentialDbRow>(
      `SELECT * FROM org_credentials WHERE org_id = $1 AND scopes IS NULL AND revoked_at IS NULL
       ORDER BY kind COLLATE "C" DESC, id COLLATE "C"`,
      [orgId],
    );
    return rows.map(toRow);
  }

  async scopedKey(orgId: string, id: string): Promise<CredentialRow | undefined> {
    const row = await this.db.one<CredentialDbRow>(
      "SELECT * FROM org_credentials WHERE org_id = $1 AND id = $2 AND scopes IS NOT NULL",
      [orgId, id],
    );
    return row && toRow(row);
  }

  /** Revokes a scoped key now; false when it does not exist or is already revoked. */
  async revokeKey(orgId: string, id: string, now: number): Promise<boolean> {
    return this.db.tx(async (sql) => {
      const done = await sql.one(
        `UPDATE org_credentials SET revoked_at = $1
         WHERE org_id = $2 AND id = $3 AND scopes IS NOT NULL AND revoked_at IS NULL RETURNING id`,
        [now, orgId, id],
      );
      if (!done) return false;
      await recordChange(sql, "credential", orgId, id);
      await recordAudit(sql, {
        orgId,
        action: "api_key.revoke",
        targetKind: "api_key",
        targetId: id,
        before: { revoked: false },
        after: { revoked: true, revokedAt: now },
      });
      return true;
    });
  }

  /**
   * Adds `replacement` and lets the old key work until `graceUntil` (or an earlier grace it
   * already has), in one transaction; API_KEY_NOT_FOUND, writing nothing, when the old key is
   * not a live scoped key of the org (a revoke that committed first wins).
   */
  async rotateKey(
    orgId: string,
    oldId: string,
    replacement: CredentialRow,
    graceUntil: number,
    now: number,
  ): Promise<void> {
    await this.db.tx(async (sql) => {
      const old = await sql.one<{ grace_until: number }>(
        `UPDATE org_credentials SET grace_until = LEAST(COALESCE(grace_until, $1), $1)
         WHERE org_id = $2 AND id = $3 AND scopes IS NOT NULL AND revoked_at IS NULL RETURNING grace_until`,
        [graceUntil, orgId, oldId],
      );
      if (!old) throw apiKeyNotFound();
      await sql.query(INSERT_CREDENTIAL, credentialValues(replacement, now));
      await recordChange(sql, "credential", orgId, oldId);
      await recordAudit(sql, {
        orgId,
        action: "api_key.rotate",
        targetKind: "api_key",
        targetId: oldId,
        before: { graceUntil: null },
        after: { graceUntil: old.grace_until, replacement: replacement.id, ...keySummary(replacement) },
      });
    });
  }

  /**
   * Replaces the org's primary API key and admin token; the old ones stop working at once. The
   * org's row is locked first, so a second replacement at the same moment waits and then
   * revokes this one's credentials (never leaving two live primary keys).
   */
  async replacePrimary(orgId: string, creds: NewCredentials, now: number): Promise<void> {
    await this.db.tx(async (sql) => {
      await sql.query("SELECT 1 FROM orgs WHERE id = $1 FOR UPDATE", [orgId]);
      const before = await sql.query<{ id: string }>(
        `UPDATE org_credentials SET revoked_at = $1
         WHERE org_id = $2 AND scopes IS NULL AND revoked_at IS NULL RETURNING id`,
        [now, orgId],
      );
      for (const c of creds) await sql.query(INSERT_CREDENTIAL, credentialValues({ ...c, orgId }, now));
      await recordChange(sql, "credential", orgId, null);
      await recordAudit(sql, {
        orgId,
        action: "org_credentials.rotate",
        targetKind: "org_credentials",
        targetId: orgId,
        before: { credentials: before.map((r) => r.id).sort(byCodeUnit) },
        after: { credentials: creds.map((c) => c.id) },
      });
    });
  }

  /**
   * Sets (or with undefined clears) an API key's own rate limit; records a credential change.
   * False when the org has no such live key.
   */
  async setKeyRateLimit(
    orgId: string,
    id: string,
    limit: { rps: number; burst: number } | undefined,
  ): Promise<boolean> {
    return this.db.tx(async (sql) => {
      // Locked, so the audit's "before" is the value this update replaces.
      const before = await sql.one<{ rps: number | null; burst: number | null }>(
        `SELECT rate_limit_rps AS rps, rate_limit_burst AS burst FROM org_credentials
         WHERE org_id = $1 AND id = $2 FOR UPDATE`,
        [orgId, id],
      );
      const done = await sql.one(
        `UPDATE org_credentials SET rate_limit_rps = $1, rate_limit_burst = $2
         WHERE org_id = $3 AND id = $4 AND kind = 'api_key' AND revoked_at IS NULL RETURNING id`,
        [limit?.rps ?? null, limit?.burst ?? null, orgId, id],
      );
      if (!done) return false;
      await recordChange(sql, "credential", orgId, id);
      await recordAudit(sql, {
        orgId,
        action: "api_key.rate_limit",
        targetKind: "api_key",
        targetId: id,
        before: rateLimitSummary(before),
        after: rateLimitSummary(limit),
      });
      return true;
    });
  }

  async get(id: string): Promise<OrgRow | undefined> {
    const row = await this.db.one<{ id: string; name: string; policy_revision: number }>(
      "SELECT id, name, policy_revision FROM orgs WHERE id = $1",
      [id],
    );
    return row && { id: row.id, name: row.name, policyRevision: row.policy_revision };
  }

  async countOrgs(): Promise<number> {
    return (await this.db.one<{ n: number }>("SELECT count(*) AS n FROM orgs"))?.n ?? 0;
  }
}

/** SQLite's ORDER BY on TEXT: by code unit, whatever the database's collation. */
function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function insertOrg(sql: Sql, org: NewOrg, creds: NewCredentials): Promise<void> {
  await sql.query("INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3)", [org.id, org.name, org.now]);
  for (const c of creds)
    await sql.query(INSERT_CREDENTIAL, credentialValues({ ...c, orgId: org.id }, org.now));
  // Every process holds every credential in memory: a new org's reach the others this way.
  await recordChange(sql, "credential", org.id, null);
  await recordAudit(
    sql,
    orgCreateAudit(
      org,
      creds.map((c) => c.id),
    ),
  );
}
