import { type RawTrust, type TrustRow, trust, trustAudit } from "../org-trust.js";
import { recordAudit, recordChange } from "./changes.js";
import type { PgDb } from "./pg-db.js";

/** Which orgs trust which, on PostgreSQL (see the SQLite OrgTrustRepository). */
export class PgOrgTrustRepository {
  constructor(private readonly db: PgDb) {}

  /** Every trust (the in-memory lookup loads them all). */
  async all(): Promise<TrustRow[]> {
    return (await this.db.query<RawTrust>("SELECT * FROM org_trust")).map(trust);
  }

  /** The orgs `orgId` trusts, oldest first. */
  async trustedBy(orgId: string): Promise<TrustRow[]> {
    const rows = await this.db.query<RawTrust>(
      `SELECT * FROM org_trust WHERE org_id = $1 ORDER BY created_at, trusted_org_id COLLATE "C"`,
      [orgId],
    );
    return rows.map(trust);
  }

  /**
   * Makes `orgId` trust `trustedOrgId`: the org must exist, and trusting it again changes
   * nothing (the first row is answered, also to a replica that raced it). Undefined when there
   * is no such org.
   */
  async insert(row: TrustRow): Promise<TrustRow | undefined> {
    return this.db.tx(async (sql) => {
      // ON CONFLICT waits for a racing insert of the same pair and then does nothing.
      const made = await sql.one(
        `INSERT INTO org_trust (org_id, trusted_org_id, created_at, actor)
         SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM orgs WHERE id = $2)
         ON CONFLICT (org_id, trusted_org_id) DO NOTHING RETURNING org_id`,
        [row.orgId, row.trustedOrgId, row.createdAt, row.actor],
      );
      if (!made) {
        const existing = await sql.one<RawTrust>(
          "SELECT * FROM org_trust WHERE org_id = $1 AND trusted_org_id = $2",
          [row.orgId, row.trustedOrgId],
        );
        return existing && trust(existing);
      }
      await recordChange(sql, "trust", row.orgId, row.trustedOrgId);
      await recordAudit(sql, trustAudit(row.orgId, row.trustedOrgId, true));
      return row;
    });
  }

  /** Ends `orgId`'s trust in `trustedOrgId`; false when there was none. */
  async delete(orgId: string, trustedOrgId: string): Promise<boolean> {
    return this.db.tx(async (sql) => {
      const gone = await sql.one(
        "DELETE FROM org_trust WHERE org_id = $1 AND trusted_org_id = $2 RETURNING org_id",
        [orgId, trustedOrgId],
      );
      if (!gone) return false;
      await recordChange(sql, "trust", orgId, trustedOrgId);
      await recordAudit(sql, trustAudit(orgId, trustedOrgId, false));
      return true;
    });
  }
}
