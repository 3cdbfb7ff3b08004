import type { Db } from "./db.js";

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
}

/** Orgs and their API keys / admin tokens (stored as digests only). */
export class OrgRepository {
  private readonly byDigest;
  private readonly count;

  constructor(private readonly db: Db) {
    this.byDigest = db.prepare<
      [Buffer],
      { id: string; org_id: string; kind: CredentialKind; digest: Buffer }
    >("SELECT id, org_id, kind, digest FROM org_credentials WHERE digest = ? AND revoked_at IS NULL");
    this.count = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM orgs");
  }

  /** Creates an org with its first API key and admin token, in one transaction. */
  create(
    org: { id: string; name: string; now: number },
    creds: readonly Omit<CredentialRow, "orgId">[],
  ): void {
    this.db.transaction(() => {
      this.db
        .prepare("INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)")
        .run(org.id, org.name, org.now);
      const insert = this.db.prepare(
        "INSERT INTO org_credentials (id, org_id, kind, digest, created_at) VALUES (?, ?, ?, ?, ?)",
      );
      for (const c of creds) insert.run(c.id, org.id, c.kind, c.digest, org.now);
    })();
  }

  /** The live credential with this digest, if any. */
  findCredential(digest: Buffer): CredentialRow | undefined {
    const row = this.byDigest.get(digest);
    return row && { id: row.id, orgId: row.org_id, kind: row.kind, digest: row.digest };
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
