import type { PolicySource } from "../engine/types.js";
import { ChangeLog } from "./changes.js";
import type { Db } from "./db.js";

export interface PolicySummaryRow {
  readonly name: string;
  readonly revision: number;
  readonly ruleCount: number;
  readonly updatedAt: number;
}

export interface PolicyChangeRow {
  readonly revision: number;
  readonly name: string;
  readonly action: "put" | "delete";
  readonly changedAt: number;
}

/** A document to store: its name, its own YAML text and how many rules it has. */
export interface PolicyWrite {
  readonly name: string;
  readonly document: string;
  readonly ruleCount: number;
}

/** Policy documents per org, with the org's revision counter and history. Implements the engine's PolicySource. */
export class PolicyRepository implements PolicySource {
  private readonly changes: ChangeLog;

  constructor(private readonly db: Db) {
    this.changes = new ChangeLog(db);
  }

  /** The org's policy revision as stored (other processes may be ahead of this one's memory). */
  storedRevision(orgId: string): number {
    return (
      this.db
        .prepare<[string], { policy_revision: number }>("SELECT policy_revision FROM orgs WHERE id = ?")
        .get(orgId)?.policy_revision ?? 0
    );
  }

  private bump(orgId: string): number {
    const row = this.db
      .prepare<[string], { policy_revision: number }>(
        "UPDATE orgs SET policy_revision = policy_revision + 1 WHERE id = ? RETURNING policy_revision",
      )
      .get(orgId);
    if (!row) throw new Error(`org ${orgId} vanished`);
    return row.policy_revision;
  }

  /** Stores documents and bumps the org's revision, all in one transaction; returns the new revision. */
  put(orgId: string, docs: readonly PolicyWrite[], now: number): number {
    return this.db.transaction(() => {
      const revision = this.bump(orgId);
      const upsert = this.db.prepare(
        `INSERT INTO policies (org_id, name, document, rule_count, revision, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (org_id, name) DO UPDATE SET document = excluded.document,
           rule_count = excluded.rule_count, revision = excluded.revision, updated_at = excluded.updated_at`,
      );
      const history = this.db.prepare(
        "INSERT INTO policy_history (org_id, revision, name, action, document, changed_at) VALUES (?, ?, ?, 'put', ?, ?)",
      );
      for (const d of docs) {
        upsert.run(orgId, d.name, d.document, d.ruleCount, revision, now);
        history.run(orgId, revision, d.name, d.document, now);
      }
      this.changes.record("policy", orgId, String(revision));
      return revision;
    })();
  }

  /** Deletes a document and bumps the revision; undefined when there was no such document. */
  delete(orgId: string, name: string, now: number): number | undefined {
    return this.db.transaction(() => {
      const gone = this.db.prepare("DELETE FROM policies WHERE org_id = ? AND name = ?").run(orgId, name);
      if (gone.changes === 0) return undefined;
      const revision = this.bump(orgId);
      this.db
        .prepare(
          "INSERT INTO policy_history (org_id, revision, name, action, document, changed_at) VALUES (?, ?, ?, 'delete', NULL, ?)",
        )
        .run(orgId, revision, name, now);
      this.changes.record("policy", orgId, String(revision));
      return revision;
    })();
  }

  /** The document in force, or as stored at `revision` (the newest put at or before it). */
  get(orgId: string, name: string, revision?: number): { revision: number; document: string } | undefined {
    if (revision === undefined) {
      return this.db
        .prepare<[string, string], { revision: number; document: string }>(
          "SELECT revision, document FROM policies WHERE org_id = ? AND name = ?",
        )
        .get(orgId, name);
    }
    const row = this.db
      .prepare<[string, string, number], { revision: number; document: string | null }>(
        `SELECT revision, document FROM policy_history WHERE org_id = ? AND name = ? AND revision <= ?
         ORDER BY revision DESC LIMIT 1`,
      )
      .get(orgId, name, revision);
    return row?.document != null ? { revision: row.revision, document: row.document } : undefined;
  }

  /** The org's stored documents with their names, in name order. */
  named(orgId: string): { name: string; document: string }[] {
    return this.db
      .prepare<[string], { name: string; document: string }>(
        "SELECT name, document FROM policies WHERE org_id = ? ORDER BY name",
      )
      .all(orgId);
  }

  /** The org's stored documents, in name order. */
  documents(orgId: string): string[] {
    return this.named(orgId).map((r) => r.document);
  }

  list(orgId: string): PolicySummaryRow[] {
    return this.db
      .prepare<[string], { name: string; revision: number; rule_count: number; updated_at: number }>(
        "SELECT name, revision, rule_count, updated_at FROM policies WHERE org_id = ? ORDER BY name",
      )
      .all(orgId)
      .map((r) => ({ name: r.name, revision: r.revision, ruleCount: r.rule_count, updatedAt: r.updated_at }));
  }

  history(orgId: string, name?: string): PolicyChangeRow[] {
    return this.db
      .prepare<
        [string, string | null, string | null],
        { revision: number; name: string; action: "put" | "delete"; changed_at: number }
      >(
        `SELECT revision, name, action, changed_at FROM policy_history
         WHERE org_id = ? AND (? IS NULL OR name = ?) ORDER BY revision DESC, name`,
      )
      .all(orgId, name ?? null, name ?? null)
      .map((r) => ({ revision: r.revision, name: r.name, action: r.action, changedAt: r.changed_at }));
  }

  /** The org's revision and documents, read consistently. */
  snapshot(orgId: string): { revision: number; documents: string[] } {
    return this.db.transaction(() => ({
      revision: this.storedRevision(orgId),
      documents: this.documents(orgId),
    }))();
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
