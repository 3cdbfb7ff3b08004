import { TesseraError } from "../domain/errors.js";
import { AdminAuditLog, type AuditChange, type AuditSummary } from "./admin-audit.js";
import { ChangeLog } from "./changes.js";
import type { Db } from "./db.js";
import { fromJsonList, toJsonList } from "./rows.js";

export interface OrgRow {
  readonly id: string;
  readonly name: string;
  readonly policyRevision: number;
}

export type CredentialKind = "api_key" | "admin_token";

export interface CredentialRow {
  readonly id: string;
  readonly orgId: string;
  readonly kind: CredentialKind;
  readonly digest: Buffer;
  /** Undefined for the org's primary key and its admin token; a list for scoped keys. */
  readonly scopes?: readonly string[] | undefined;
  readonly name?: string | undefined;
  readonly prefix?: string | undefined;
  /** Seconds since the epoch; the key stops working then. */
  readonly expiresAt?: number | undefined;
  /** Set on a rotated-out key: it works until then. */
  readonly graceUntil?: number | undefined;
  readonly createdAt?: number | undefined;
  readonly revokedAt?: number | undefined;
  /** The key's own rate limit (requests per second, burst); unset takes the org default. */
  readonly rateLimit?: { readonly rps: number; readonly burst: number } | undefined;
}

/** An org_credentials row as both backends read it. */
export interface CredentialDbRow {
  id: string;
  org_id: string;
  kind: CredentialKind;
  digest: Buffer;
  scopes: string | null;
  name: string;
  prefix: string;
  expires_at: number | null;
  grace_until: number | null;
  created_at: number;
  revoked_at: number | null;
  rate_limit_rps: number | null;
  rate_limit_burst: number | null;
}

export function toRow(r: CredentialDbRow): CredentialRow {
  return {
    id: r.id,
    orgId: r.org_id,
    kind: r.kind,
    digest: r.digest,
    scopes: r.scopes === null ? undefined : fromJsonList(r.scopes),
    name: r.name,
    prefix: r.prefix,
    expiresAt: r.expires_at ?? undefined,
    graceUntil: r.grace_until ?? undefined,
    createdAt: r.created_at,
    revokedAt: r.revoked_at ?? undefined,
    rateLimit:
      r.rate_limit_rps !== null && r.rate_limit_burst !== null
        ? { rps: r.rate_limit_rps, burst: r.rate_limit_burst }
        : undefined,
  };
}

/** The columns a credential is inserted with, in `credentialValues`' order. */
export const CREDENTIAL_COLUMNS =
  "id, org_id, kind, digest, created_at, name, scopes, prefix, expires_at, rate_limit_rps, rate_limit_burst";

/** A new credential's row values (shared by both backends). */
export function credentialValues(c: CredentialRow, now: number): unknown[] {
  return [
    c.id,
    c.orgId,
    c.kind,
    c.digest,
    now,
    c.name ?? "",
    c.scopes ? toJsonList(c.scopes) : null,
    c.prefix ?? "",
    c.expiresAt ?? null,
    c.rateLimit?.rps ?? null,
    c.rateLimit?.burst ?? null,
  ];
}

/** The refusal of a rotation whose key is gone or revoked (the same the core gives before it). */
export function apiKeyNotFound(): TesseraError {
  return new TesseraError("API_KEY_NOT_FOUND", "no such live API key in this org");
}

/** The audit summary of a key's own rate limit. */
export function rateLimitSummary(l: { rps: number | null; burst: number | null } | undefined): AuditSummary {
  return { rateLimitRps: l?.rps ?? null, rateLimitBurst: l?.burst ?? null };
}

/** The audit record of a new org. */
export function orgCreateAudit(
  org: { id: string; name: string },
  credentialIds: readonly string[],
): AuditChange {
  return {
    orgId: org.id,
    action: "org.create",
    targetKind: "org",
    targetId: org.id,
    after: { name: org.name, credentials: credentialIds },
  };
}

/** What the audit trail keeps of an API key: its name, scopes and expiry, never its digest. */
export function keySummary(c: CredentialRow): AuditSummary {
  return { kind: c.kind, name: c.name ?? "", scopes: c.scopes ?? [], expiresAt: c.expiresAt ?? null };
}

/** Orgs and their API keys / admin tokens (stored as digests only). */
export class OrgRepository {
  private readonly audit: AdminAuditLog;
  private readonly byDigest;
  private readonly count;
  private readonly changes: ChangeLog;

  constructor(private readonly db: Db) {
    this.byDigest = db.prepare<[Buffer], CredentialDbRow>(
      "SELECT * FROM org_credentials WHERE digest = ? AND revoked_at IS NULL",
    );
    this.count = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM orgs");
    this.changes = new ChangeLog(db);
    this.audit = new AdminAuditLog(db);
  }

  /** Creates an org with its first API key and admin token, in one transaction. */
  create(
    org: { id: string; name: string; now: number },
    creds: readonly Omit<CredentialRow, "orgId">[],
  ): void {
    this.db.transaction(() => this.insertOrg(org, creds))();
  }

  /**
   * Creates the org (as `create`) only when there is no org at all yet, under the write lock:
   * of servers starting at once on an empty database exactly one creates the first org (the
   * development org) and the others get false, having written nothing.
   */
  createFirst(
    org: { id: string; name: string; now: number },
    creds: readonly Omit<CredentialRow, "orgId">[],
  ): boolean {
    return this.db
      .transaction(() => {
        if ((this.count.get()?.n ?? 0) > 0) return false;
        this.insertOrg(org, creds);
        return true;
      })
      .immediate();
  }

  private insertOrg(
    org: { id: string; name: string; now: number },
    creds: readonly Omit<CredentialRow, "orgId">[],
  ): void {
    this.db
      .prepare("INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)")
      .run(org.id, org.name, org.now);
    for (const c of creds) this.insertCredential({ ...c, orgId: org.id }, org.now);
    // Every process holds every credential in memory: a new org's reach the others this way.
    this.changes.record("credential", org.id);
    this.audit.record(
      orgCreateAudit(
        org,
        creds.map((c) => c.id),
      ),
    );
  }

  private insertCredential(c: CredentialRow, now: number): void {
    this.db
      .prepare(`INSERT INTO org_credentials (${CREDENTIAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(...credentialValues(c, now));
  }

  /** The unrevoked credential with this digest, if any (the caller checks expiry and grace). */
  findCredential(digest: Buffer): CredentialRow | undefined {
    const row = this.byDigest.get(digest);
    return row && toRow(row);
  }

  /** Every unrevoked credential of every org (what each process holds in memory). */
  liveCredentials(): CredentialRow[] {
    return this.db
      .prepare<[], CredentialDbRow>("SELECT * FROM org_credentials WHERE revoked_at IS NULL")
      .all()
      .map(toRow);
  }

  /** Adds a scoped API key; records a credential change. */
  addScopedKey(c: CredentialRow, now: number): void {
    this.db.transaction(() => {
      this.insertCredential(c, now);
      this.changes.record("credential", c.orgId, c.id);
      this.audit.record({
        orgId: c.orgId,
        action: "api_key.create",
        targetKind: "api_key",
        targetId: c.id,
        after: keySummary(c),
      });
    })();
  }

  /** The org's scoped API keys, newest first (revoked ones included, for the record). */
  scopedKeys(orgId: string): CredentialRow[] {
    return this.db
      .prepare<[string], CredentialDbRow>(
        "SELECT * FROM org_credentials WHERE org_id = ? AND scopes IS NOT NULL ORDER BY created_at DESC, id",
      )
      .all(orgId)
      .map(toRow);
  }

  /** The org's live primary API key and admin token (the credentials without scopes). */
  primaryCredentials(orgId: string): CredentialRow[] {
    return this.db
      .prepare<[string], CredentialDbRow>(
        "SELECT * FROM org_credentials WHERE org_id = ? AND scopes IS NULL AND revoked_at IS NULL ORDER BY kind DESC, id",
      )
      .all(orgId)
      .map(toRow);
  }

  scopedKey(orgId: string, id: string): CredentialRow | undefined {
    const row = this.db
      .prepare<[string, string], CredentialDbRow>(
        "SELECT * FROM org_credentials WHERE org_id = ? AND id = ? AND scopes IS NOT NULL",
      )
      .get(orgId, id);
    return row && toRow(row);
  }

  /** Revokes a scoped key now; false when it does not exist or is already revoked. */
  revokeKey(orgId: string, id: string, now: number): boolean {
    return this.db.transaction(() => {
      const info = this.db
        .prepare(
          "UPDATE org_credentials SET revoked_at = ? WHERE org_id = ? AND id = ? AND scopes IS NOT NULL AND revoked_at IS NULL",
        )
        .run(now, orgId, id);
      if (info.changes !== 1) return false;
      this.changes.record("credential", orgId, id);
      this.audit.record({
        orgId,
        action: "api_key.revoke",
        targetKind: "api_key",
        targetId: id,
        before: { revoked: false },
        after: { revoked: true, revokedAt: now },
      });
      return true;
    })();
  }

  /**
   * Adds `replacement` and lets the old key work until `graceUntil` (or an earlier grace it
   * already has), in one transaction. Refuses with API_KEY_NOT_FOUND, writing nothing, when the
   * old key is not a live scoped key of the org (revoked since the caller read it).
   */
  rotateKey(orgId: string, oldId: string, replacement: CredentialRow, graceUntil: number, now: number): void {
    this.db.transaction(() => {
      const old = this.db
        .prepare<[number, number, string, string], { grace_until: number }>(
          `UPDATE org_credentials SET grace_until = min(coalesce(grace_until, ?), ?)
           WHERE org_id = ? AND id = ? AND scopes IS NOT NULL AND revoked_at IS NULL RETURNING grace_until`,
        )
        .get(graceUntil, graceUntil, orgId, oldId);
      if (!old) throw apiKeyNotFound();
      this.insertCredential(replacement, now);
      this.changes.record("credential", orgId, oldId);
      this.audit.record({
        orgId,
        action: "api_key.rotate",
        targetKind: "api_key",
        targetId: oldId,
        before: { graceUntil: null },
        after: { graceUntil: old.grace_until, replacement: replacement.id, ...keySummary(replacement) },
      });
    })();
  }

  /** Replaces the org's primary API key and admin token; the old ones stop working at once. */
  replacePrimary(orgId: string, creds: readonly Omit<CredentialRow, "orgId">[], now: number): void {
    this.db.transaction(() => {
      const before = this.db
        .prepare<[string], { id: string }>(
          "SELECT id FROM org_credentials WHERE org_id = ? AND scopes IS NULL AND revoked_at IS NULL ORDER BY id",
        )
        .all(orgId)
        .map((r) => r.id);
      this.db
        .prepare(
          "UPDATE org_credentials SET revoked_at = ? WHERE org_id = ? AND scopes IS NULL AND revoked_at IS NULL",
        )
        .run(now, orgId);
      for (const c of creds) this.insertCredential({ ...c, orgId }, now);
      this.changes.record("credential", orgId, null);
      this.audit.record({
        orgId,
        action: "org_credentials.rotate",
        targetKind: "org_credentials",
        targetId: orgId,
        before: { credentials: before },
        after: { credentials: creds.map((c) => c.id) },
      });
    })();
  }

  /**
   * Sets (or with undefined clears) an API key's own rate limit; records a credential change so
   * every process rereads its limits. False when the org has no such live key.
   */
  setKeyRateLimit(orgId: string, id: string, limit: { rps: number; burst: number } | undefined): boolean {
    return this.db.transaction(() => {
      const before = this.db
        .prepare<[string, string], { rps: number | null; burst: number | null }>(
          "SELECT rate_limit_rps AS rps, rate_limit_burst AS burst FROM org_credentials WHERE org_id = ? AND id = ?",
        )
        .get(orgId, id);
      const info = this.db
        .prepare(
          `UPDATE org_credentials SET rate_limit_rps = ?, rate_limit_burst = ?
           WHERE org_id = ? AND id = ? AND kind = 'api_key' AND revoked_at IS NULL`,
        )
        .run(limit?.rps ?? null, limit?.burst ?? null, orgId, id);
      if (info.changes !== 1) return false;
      this.changes.record("credential", orgId, id);
      this.audit.record({
        orgId,
        action: "api_key.rate_limit",
        targetKind: "api_key",
        targetId: id,
        before: rateLimitSummary(before),
        after: rateLimitSummary(limit),
      });
      return true;
    })();
  }

  get(id: string): OrgRow | undefined {
    const row = this.db
      .prepare<[string], { id: string; name: string; policy_revision: number }>(
        "SELECT id, name, policy_revision FROM orgs WHERE id = ?",
      )
      .get(id);
    return row && { id: row.id, name: row.name, policyRevision: row.policy_revision };
  }

  countOrgs(): number {
    return this.count.get()?.n ?? 0;
  }
}
