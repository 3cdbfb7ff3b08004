import { AdminAuditLog, type AuditChange } from "./admin-audit.js";
import { ChangeLog } from "./changes.js";
import type { Db } from "./db.js";

/** One org trusting another: the trusted org's tokens are decided under the trusting org's policies. */
export interface TrustRow {
  readonly orgId: string;
  readonly trustedOrgId: string;
  /** Seconds since the epoch. */
  readonly createdAt: number;
  /** Who made it (admin:KEY_ID, api_key:KEY_ID, user:USER_ID); never a secret. */
  readonly actor: string;
}

/** An org_trust row as both backends read it. */
export interface RawTrust {
  org_id: string;
  trusted_org_id: string;
  created_at: number;
  actor: string;
}

export const trust = (r: RawTrust): TrustRow => ({
  orgId: r.org_id,
  trustedOrgId: r.trusted_org_id,
  createdAt: r.created_at,
  actor: r.actor,
});

/** The audit record of a trust made (`trusted`) or ended. */
export function trustAudit(orgId: string, trustedOrgId: string, trusted: boolean): AuditChange {
  return {
    orgId,
    action: trusted ? "org_trust.add" : "org_trust.remove",
    targetKind: "org",
    targetId: trustedOrgId,
    before: { trusted: !trusted },
    after: { trusted },
  };
}

/**
 * Which orgs trust which (migration 13). Every change is recorded in the change log in its own
 * transaction, so every process reloads its in-memory copy.
 */
export class OrgTrustRepository {
  private readonly changes: ChangeLog;
  private readonly audit: AdminAuditLog;

  constructor(private readonly db: Db) {
    this.changes = new ChangeLog(db);
    this.audit = new AdminAuditLog(db);
  }

  /** Every trust (the in-memory lookup loads them all). */
  all(): TrustRow[] {
    return this.db.prepare<[], RawTrust>("SELECT * FROM org_trust").all().map(trust);
  }

  /** The orgs `orgId` trusts, oldest first. */
  trustedBy(orgId: string): TrustRow[] {
    return this.db
      .prepare<[string], RawTrust>(
        "SELECT * FROM org_trust WHERE org_id = ? ORDER BY created_at, trusted_org_id",
      )
      .all(orgId)
      .map(trust);
  }

  /**
   * Makes `orgId` trust `trustedOrgId`, under the write lock: the org must exist, and trusting
   * it again changes nothing (the first row is answered). Undefined when there is no such org.
   */
  insert(row: TrustRow): TrustRow | undefined {
    return this.db
      .transaction((): TrustRow | undefined => {
        const existing = this.db
          .prepare<[string, string], RawTrust>(
            "SELECT * FROM org_trust WHERE org_id = ? AND trusted_org_id = ?",
          )
          .get(row.orgId, row.trustedOrgId);
        if (existing) return trust(existing);
        if (!this.db.prepare("SELECT 1 FROM orgs WHERE id = ?").get(row.trustedOrgId)) return undefined;
        this.db
          .prepare("INSERT INTO org_trust (org_id, trusted_org_id, created_at, actor) VALUES (?, ?, ?, ?)")
          .run(row.orgId, row.trustedOrgId, row.createdAt, row.actor);
        this.changes.record("trust", row.orgId, row.trustedOrgId);
        this.audit.record(trustAudit(row.orgId, row.trustedOrgId, true));
        return row;
      })
      .immediate();
  }

  /** Ends `orgId`'s trust in `trustedOrgId`; false when there was none. */
  delete(orgId: string, trustedOrgId: string): boolean {
    return this.db
      .transaction(() => {
        const info = this.db
          .prepare("DELETE FROM org_trust WHERE org_id = ? AND trusted_org_id = ?")
          .run(orgId, trustedOrgId);
        if (info.changes === 0) return false;
        this.changes.record("trust", orgId, trustedOrgId);
        this.audit.record(trustAudit(orgId, trustedOrgId, false));
        return true;
      })
      .immediate();
  }
}
