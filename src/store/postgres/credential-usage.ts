import type { Usage, UsageDelta } from "../credential-usage.js";
import type { PgDb } from "./pg-db.js";

/**
 * The batch as one statement: equal (org, credential) pairs summed first (one INSERT may not
 * touch a row twice), in key order (two replicas flushing overlapping batches lock rows in the
 * same order), orgs deleted since the calls were counted left out. On conflict the counts add
 * up and the later use wins, so replicas flushing the same credential at once both count.
 */
const UPSERT = `INSERT INTO credential_usage (org_id, credential, last_used_at, use_count)
  SELECT d.org_id, d.credential, max(d.last_used_at), sum(d.use_count)::bigint
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS d(org_id, credential, last_used_at, use_count)
   WHERE EXISTS (SELECT 1 FROM orgs o WHERE o.id = d.org_id)
   GROUP BY d.org_id, d.credential
   ORDER BY d.org_id COLLATE "C", d.credential COLLATE "C"
  ON CONFLICT (org_id, credential) DO UPDATE SET
    use_count = credential_usage.use_count + excluded.use_count,
    last_used_at = GREATEST(credential_usage.last_used_at, excluded.last_used_at)`;

/** SQLSTATE foreign_key_violation: an org deleted between the EXISTS and the insert. */
const FOREIGN_KEY_VIOLATION = "23503";

/** Credential usage on PostgreSQL (see the SQLite CredentialUsageRepository). */
export class PgCredentialUsageRepository {
  constructor(private readonly db: PgDb) {}

  /** Adds a batch of counts in one transaction (each replica and worker adds its own). */
  async add(deltas: readonly UsageDelta[]): Promise<void> {
    if (deltas.length === 0) return;
    const params = [
      deltas.map((d) => d.orgId),
      deltas.map((d) => d.credential),
      deltas.map((d) => d.lastUsedAt),
      deltas.map((d) => d.count),
    ];
    for (let attempt = 1; ; attempt++) {
      try {
        await this.db.query(UPSERT, params);
        return;
      } catch (err) {
        // Run again: the EXISTS now leaves the deleted org's counts out.
        if (attempt < 3 && (err as { code?: string }).code === FOREIGN_KEY_VIOLATION) continue;
        throw err;
      }
    }
  }

  /** The org's credentials' usage, by credential id. */
  async ofOrg(orgId: string): Promise<Map<string, Usage>> {
    const rows = await this.db.query<{ credential: string; last_used_at: number; use_count: number }>(
      "SELECT credential, last_used_at, use_count FROM credential_usage WHERE org_id = $1",
      [orgId],
    );
    return new Map(rows.map((r) => [r.credential, { lastUsedAt: r.last_used_at, count: r.use_count }]));
  }
}
