import type { PolicySource } from "../engine/types.js";
import type { Db } from "./db.js";

export interface PolicySummaryRow {
  readonly name: string;
  readonly revision: number;
  readonly ruleCount: number;
  readonly updatedAt: number;
}

/** Policy documents per org, with the org's revision counter. Implements the engine's PolicySource. */
export class PolicyRepository implements PolicySource {
  constructor(private readonly db: Db) {}

  /** Stores a document and bumps the org's revision, in one transaction; returns the new revision. */
  put(orgId: string, p: { name: string; document: string; ruleCount: number; now: number }): number {
    return this.db.transaction(() => {
      const row = this.db
        .prepare<[string], { policy_revision: number }>(
          "UPDATE orgs SET policy_revision = policy_revision + 1 WHERE id = ? RETURNING policy_revision",
        )
        .get(orgId);
      if (!row) throw new Error(`org ${orgId} vanished`);
      this.db
        .prepare(
          `INSERT INTO policies (org_id, name, document, rule_count, revision, updated_at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (org_id, name) DO UPDATE SET document = excluded.document,
             rule_count = excluded.rule_count, revision = excluded.revision, updated_at = excluded.updated_at`,
        )
        .run(orgId, p.name, p.document, p.ruleCount, row.policy_revision, p.now);
      return row.policy_revision;
    })();
  }

  /** The org's stored documents, in name order. */
  documents(orgId: string): string[] {
    return this.db
      .prepare<[string], { document: string }>("SELECT document FROM policies WHERE org_id = ? ORDER BY name")
      .all(orgId)
      .map((r) => r.document);
  }

  list(orgId: string): PolicySummaryRow[] {
    return this.db
      .prepare<[string], { name: string; revision: number; rule_count: number; updated_at: number }>(
        "SELECT name, revision, rule_count, updated_at FROM policies WHERE org_id = ? ORDER BY name",
      )
      .all(orgId)
      .map((r) => ({ name: r.name, revision: r.revision, ruleCount: r.rule_count, updatedAt: r.updated_at }));
  }

  *loadAll(): Iterable<{ orgId: string; revision: number; documents: readonly string[] }> {
    const orgs = this.db
      .prepare<[], { id: string; policy_revision: number }>("SELECT id, policy_revision FROM orgs")
      .all();
    for (const org of orgs) {
      yield { orgId: org.id, revision: org.policy_revision, documents: this.documents(org.id) };
    }
  }
}
