import type { PolicySource } from "../engine/types.js";
import { ChangeLog } from "./changes.js";
import type { Db } from "./db.js";
import { type NamedDocument, policySetDigest } from "./policy-digest.js";

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
  /** Who made the change (`admin:ID`, `api_key:ID`, `user:ID`, `server`); undefined before migration 12. */
  readonly actor: string | undefined;
}

/** A document to store: its name, its own YAML text and how many rules it has. */
export interface PolicyWrite {
  readonly name: string;
  readonly document: string;
  readonly ruleCount: number;
}

/**
 * One revision's change: documents to put (replacing those of the same name) and names to
 * remove; with `prune`, every stored document not put is removed instead.
 */
export interface PolicyChange {
  readonly put?: readonly PolicyWrite[] | undefined;
  readonly remove?: readonly string[] | undefined;
  readonly prune?: boolean | undefined;
}

/** When, and by whom, a change is made. */
export interface ChangeMeta {
  readonly now: number;
  readonly actor?: string | undefined;
}

/**
 * What a commit did. Documents put exactly as stored are `same` and not written; when nothing
 * else changes, no revision is made (`unchanged`, `revision` the one in force, no digest).
 */
export type CommitResult = {
  readonly revision: number;
  readonly added: string[];
  readonly changed: string[];
  readonly removed: string[];
  readonly same: string[];
} & ({ readonly unchanged: true } | { readonly unchanged: false; readonly digest: string });

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
      const plan = this.plan(orgId, change);
      if (!plan) return undefined;
      const { writes, result } = plan;
      if (writes.length === 0 && result.removed.length === 0)
        return { ...result, revision: current, unchanged: true };
      for (const name of result.removed)
        this.db.prepare("DELETE FROM policies WHERE org_id = ? AND name = ?").run(orgId, name);
      const revision = this.bump(orgId);
      this.writeHistory(orgId, revision, { put: writes, remove: result.removed }, meta);
      const digest = policySetDigest(this.named(orgId));
      this.db
        .prepare("INSERT INTO policy_revisions (org_id, revision, digest, created_at) VALUES (?, ?, ?, ?)")
        .run(orgId, revision, digest, meta.now);
      this.changes.record("policy", orgId, String(revision));
      return { ...result, revision, unchanged: false, digest };
    });
    return run.immediate();
  }

  /**
   * Sorts a change against the stored set: documents new, changed or stored exactly so, and the
   * names to remove (for `prune`, every stored one not put). Undefined when a name to remove is
   * not stored.
   */
  private plan(
    orgId: string,
    change: PolicyChange,
  ): { writes: PolicyWrite[]; result: Omit<CommitResult, "revision" | "unchanged" | "digest"> } | undefined {
    const stored = new Map(this.named(orgId).map((d) => [d.name, d.document]));
    const result = {
      added: [] as string[],
      changed: [] as string[],
      removed: [] as string[],
      same: [] as string[],
    };
    const writes: PolicyWrite[] = [];
    for (const d of change.put ?? []) {
      const before = stored.get(d.name);
      if (before === d.document) result.same.push(d.name);
      else (before === undefined ? result.added : result.changed).push(d.name);
      if (before !== d.document) writes.push(d);
    }
    const put = new Set((change.put ?? []).map((d) => d.name));
    const remove = change.prune ? [...stored.keys()].filter((n) => !put.has(n)) : (change.remove ?? []);
    for (const name of remove) {
      if (!stored.has(name)) return undefined;
      result.removed.push(name);
    }
    return { writes, result };
  }

  private writeHistory(orgId: string, revision: number, change: PolicyChange, meta: ChangeMeta): void {
    const upsert = this.db.prepare(
      `INSERT INTO policies (org_id, name, document, rule_count, revision, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (org_id, name) DO UPDATE SET document = excluded.document,
         rule_count = excluded.rule_count, revision = excluded.revision, updated_at = excluded.updated_at`,
    );
    const history = this.db.prepare(
      `INSERT INTO policy_history (org_id, revision, name, action, document, changed_at, actor)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    const { now } = meta;
    const actor = meta.actor ?? null;
    for (const d of change.put ?? []) {
      upsert.run(orgId, d.name, d.document, d.ruleCount, revision, now);
      history.run(orgId, revision, d.name, "put", d.document, now, actor);
    }
    for (const name of change.remove ?? []) history.run(orgId, revision, name, "delete", null, now, actor);
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
        { revision: number; name: string; action: "put" | "delete"; changed_at: number; actor: string | null }
      >(
        `SELECT revision, name, action, changed_at, actor FROM policy_history
         WHERE org_id = ? AND (? IS NULL OR name = ?) ORDER BY revision DESC, name`,
      )
      .all(orgId, name ?? null, name ?? null)
      .map((r) => ({
        revision: r.revision,
        name: r.name,
        action: r.action,
        changedAt: r.changed_at,
        actor: r.actor ?? undefined,
      }));
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
