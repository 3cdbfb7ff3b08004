import type { PolicySource } from "../engine/types.js";
import { AdminAuditLog, type AuditChange } from "./admin-audit.js";
import { ChangeLog } from "./changes.js";
import type { Db } from "./db.js";
import {
  type ChangeMeta,
  type ChangeSort,
  type CommitResult,
  type PolicyChange,
  type PolicyChangeRow,
  type PolicyWrite,
  planChange,
  readHistory,
  writeChange,
} from "./policy-changes.js";
import { type NamedDocument, policySetDigest } from "./policy-digest.js";

export type {
  ChangeMeta,
  CommitResult,
  PolicyChange,
  PolicyChangeRow,
  PolicyWrite,
} from "./policy-changes.js";

export interface PolicySummaryRow {
  readonly name: string;
  readonly kind: "Policy" | "RouteMap";
  readonly revision: number;
  readonly ruleCount: number;
  readonly updatedAt: number;
}

/** The stored set a revision is made from, as `commit` shows it inside its transaction. */
export interface StoredSet {
  readonly revision: number;
  /** The documents in name order (read on demand: a check that compiled this revision already needs none). */
  named(): NamedDocument[];
}

/** An org's policy as stored: revision, documents and the digest of the documents. */
export interface PolicySnapshot {
  readonly revision: number;
  readonly documents: readonly NamedDocument[];
  readonly digest: string;
}

/** The audit record of one new revision (`current` the revision it was made on): shared by both backends. */
export function policyChangeAudit(
  orgId: string,
  current: number,
  revision: number,
  result: ChangeSort,
  writes: readonly PolicyWrite[],
): AuditChange {
  return {
    orgId,
    action: "policy.change",
    targetKind: "policy",
    targetId: [...result.added, ...result.changed, ...result.removed].join(","),
    before: { revision: current },
    after: {
      revision,
      added: result.added,
      changed: result.changed,
      removed: result.removed,
      kinds: writes.map((w) => `${w.name}:${w.kind ?? "Policy"}`),
    },
  };
}

/** Policy documents per org, with the org's revision counter and history. Implements the engine's PolicySource. */
export class PolicyRepository implements PolicySource {
  private readonly changes: ChangeLog;
  private readonly audit: AdminAuditLog;

  constructor(private readonly db: Db) {
    this.changes = new ChangeLog(db);
    this.audit = new AdminAuditLog(db);
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

  /**
   * Makes one new revision of the org's policy: `change` applied to the set as stored, all or
   * nothing, with the digest of the resulting set. The transaction takes the write lock before
   * it reads, so the set `check` is shown is exactly the one the revision is made from: `check`
   * may compile it (and throw to abort). Returns undefined, writing nothing, when a document to
   * remove is not stored.
   */
  commit(
    orgId: string,
    change: PolicyChange,
    meta: ChangeMeta,
    check: (base: StoredSet) => void,
  ): CommitResult | undefined {
    const run = this.db.transaction((): CommitResult | undefined => {
      const current = this.storedRevision(orgId);
      check({ revision: current, named: () => this.named(orgId) });
      const stored = new Map(this.named(orgId).map((d) => [d.name, d.document]));
      const plan = planChange(stored, change);
      if (!plan) return undefined;
      const { writes, result } = plan;
      if (writes.length === 0 && result.removed.length === 0)
        return { ...result, revision: current, unchanged: true };
      const revision = this.bump(orgId);
      writeChange(this.db, orgId, revision, { put: writes, remove: result.removed }, meta);
      const digest = policySetDigest(this.named(orgId));
      this.db
        .prepare("INSERT INTO policy_revisions (org_id, revision, digest, created_at) VALUES (?, ?, ?, ?)")
        .run(orgId, revision, digest, meta.now);
      this.changes.record("policy", orgId, String(revision));
      this.audit.record(policyChangeAudit(orgId, current, revision, result, writes));
      return { ...result, revision, unchanged: false, digest };
    });
    return run.immediate();
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
  named(orgId: string): NamedDocument[] {
    return this.db
      .prepare<[string], NamedDocument>("SELECT name, document FROM policies WHERE org_id = ? ORDER BY name")
      .all(orgId);
  }

  /** The org's stored documents, in name order. */
  documents(orgId: string): string[] {
    return this.named(orgId).map((r) => r.document);
  }

  list(orgId: string): PolicySummaryRow[] {
    type Row = {
      name: string;
      kind: PolicySummaryRow["kind"];
      revision: number;
      rule_count: number;
      updated_at: number;
    };
    return this.db
      .prepare<[string], Row>(
        "SELECT name, kind, revision, rule_count, updated_at FROM policies WHERE org_id = ? ORDER BY name",
      )
      .all(orgId)
      .map((r) => ({
        name: r.name,
        kind: r.kind,
        revision: r.revision,
        ruleCount: r.rule_count,
        updatedAt: r.updated_at,
      }));
  }

  /** Every change to the org's policies (or to one), newest first. */
  history(orgId: string, name?: string): PolicyChangeRow[] {
    return readHistory(this.db, orgId, name);
  }

  /** The org's revision, its documents and their digest, read consistently. */
  snapshot(orgId: string): PolicySnapshot {
    return this.db.transaction(() => {
      const documents = this.named(orgId);
      return { revision: this.storedRevision(orgId), documents, digest: policySetDigest(documents) };
    })();
  }

  /** The org's revision and the digest stored with it (null for a revision made before digests were stored). */
  state(orgId: string): { revision: number; digest: string | null } {
    const row = this.db
      .prepare<[string], { policy_revision: number; digest: string | null }>(
        `SELECT o.policy_revision, r.digest FROM orgs o
         LEFT JOIN policy_revisions r ON r.org_id = o.id AND r.revision = o.policy_revision WHERE o.id = ?`,
      )
      .get(orgId);
    return { revision: row?.policy_revision ?? 0, digest: row?.digest ?? null };
  }

  /**
   * Every org's revision and the digest stored with it (null for a revision made before
   * digests were stored): one cheap query a process compares its compiled revisions with.
   */
  states(): { orgId: string; revision: number; digest: string | null }[] {
    return this.db
      .prepare<[], { id: string; policy_revision: number; digest: string | null }>(
        `SELECT o.id, o.policy_revision, r.digest FROM orgs o
         LEFT JOIN policy_revisions r ON r.org_id = o.id AND r.revision = o.policy_revision`,
      )
      .all()
      .map((r) => ({ orgId: r.id, revision: r.policy_revision, digest: r.digest }));
  }

  *loadAll(): Iterable<{ orgId: string; revision: number; documents: readonly string[]; digest: string }> {
    const orgs = this.db.prepare<[], { id: string }>("SELECT id FROM orgs").all();
    for (const org of orgs) {
      const snap = this.snapshot(org.id);
      yield { ...snap, orgId: org.id, documents: snap.documents.map((d) => d.document) };
    }
  }
}
