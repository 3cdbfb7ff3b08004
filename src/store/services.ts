import type { Db } from "./db.js";

/** mTLS identities bound to orgs. */
export class ServiceIdentityRepository {
  private readonly lookup;

  constructor(private readonly db: Db) {
    this.lookup = db.prepare<[string], { org_id: string }>(
      "SELECT org_id FROM service_identities WHERE identity = ?",
    );
  }

  /** Binds an identity; returns false when it is already bound (to any org). */
  bind(identity: string, orgId: string, now: number): boolean {
    const info = this.db
      .prepare(
        "INSERT INTO service_identities (identity, org_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
      )
      .run(identity, orgId, now);
    return info.changes === 1;
  }

  orgOf(identity: string): string | undefined {
    return this.lookup.get(identity)?.org_id;
  }
}
