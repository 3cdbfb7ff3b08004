import type { Db } from "./db.js";

/** One credential's calls since the last flush. */
export interface UsageDelta {
  readonly orgId: string;
  /** The resolved credential id (`api_key:ID`, `agent:ID`, …), never a secret. */
  readonly credential: string;
  readonly count: number;
  /** Seconds since the epoch. */
  readonly lastUsedAt: number;
}

/** What is known of a credential's use. */
export interface Usage {
  readonly lastUsedAt: number;
  readonly count: number;
}

/** When credentials were last used and how often (issue #13), added to in batches. */
export class CredentialUsageRepository {
  private readonly upsert;

  constructor(private readonly db: Db) {
    this.upsert = db.prepare<[string, string, number, number]>(
      `INSERT INTO credential_usage (org_id, credential, last_used_at, use_count) VALUES (?, ?, ?, ?)
       ON CONFLICT (org_id, credential) DO UPDATE SET
         use_count = use_count + excluded.use_count,
         last_used_at = max(last_used_at, excluded.last_used_at)`,
    );
  }

  /** Adds a batch of counts in one transaction (each worker adds its own). */
  add(deltas: readonly UsageDelta[]): void {
    if (deltas.length === 0) return;
    this.db.transaction(() => {
      for (const d of deltas) {
        // An org deleted since the call counted has nothing left to count for.
        try {
          this.upsert.run(d.orgId, d.credential, d.lastUsedAt, d.count);
        } catch (err) {
          if ((err as { code?: string }).code !== "SQLITE_CONSTRAINT_FOREIGNKEY") throw err;
        }
      }
    })();
  }

  /** The org's credentials' usage, by credential id. */
  ofOrg(orgId: string): Map<string, Usage> {
    const rows = this.db
      .prepare<[string], { credential: string; last_used_at: number; use_count: number }>(
        "SELECT credential, last_used_at, use_count FROM credential_usage WHERE org_id = ?",
      )
      .all(orgId);
    return new Map(rows.map((r) => [r.credential, { lastUsedAt: r.last_used_at, count: r.use_count }]));
  }
}
