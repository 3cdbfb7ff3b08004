import type { Db } from "./db.js";

/** One row of an org's policy history. */
export interface PolicyChangeRow {
  readonly revision: number;
  readonly name: string;
  readonly action: "put" | "delete";
  readonly changedAt: number;
  /** Who made the change (`admin:ID`, `api_key:ID`, `user:ID`, `server`); undefined before migration 12. */
  readonly actor: string | undefined;
}

/** A document to store: its name, its own YAML text, its kind and how many rules (a RouteMap: routes) it has. */
export interface PolicyWrite {
  readonly name: string;
  readonly document: string;
  readonly ruleCount: number;
  /** Absent: Policy. */
  readonly kind?: "Policy" | "RouteMap" | undefined;
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
export type CommitResult = ChangeSort & { readonly revision: number } & (
    | { readonly unchanged: true }
    | { readonly unchanged: false; readonly digest: string }
  );

/** A change's documents by fate: new, changed, removed, or stored exactly so already. */
export interface ChangeSort {
  readonly added: string[];
  readonly changed: string[];
  readonly removed: string[];
  readonly same: string[];
}

/**
 * Sorts a change against the stored set (name → document): documents new, changed or stored
 * exactly so, and the names to remove (for `prune`, every stored one not put). Undefined when a
 * name to remove is not stored.
 */
export function planChange(
  stored: ReadonlyMap<string, string>,
  change: PolicyChange,
): { writes: PolicyWrite[]; result: ChangeSort } | undefined {
  const result: ChangeSort = { added: [], changed: [], removed: [], same: [] };
  const writes: PolicyWrite[] = [];
  for (const d of change.put ?? []) {
    const before = stored.get(d.name);
    if (before === d.document) {
      result.same.push(d.name);
      continue;
    }
    (before === undefined ? result.added : result.changed).push(d.name);
    writes.push(d);
  }
  const put = new Set((change.put ?? []).map((d) => d.name));
  const remove = change.prune ? [...stored.keys()].filter((n) => !put.has(n)) : (change.remove ?? []);
  for (const name of remove) {
    if (!stored.has(name)) return undefined;
    result.removed.push(name);
  }
  return { writes, result };
}

/** Writes a planned change as revision `revision`: the documents, and a history row for each. */
export function writeChange(
  db: Db,
  orgId: string,
  revision: number,
  change: { readonly put: readonly PolicyWrite[]; readonly remove: readonly string[] },
  meta: ChangeMeta,
): void {
  const upsert = db.prepare(
    `INSERT INTO policies (org_id, name, document, rule_count, revision, updated_at, kind) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (org_id, name) DO UPDATE SET document = excluded.document, rule_count = excluded.rule_count,
       revision = excluded.revision, updated_at = excluded.updated_at, kind = excluded.kind`,
  );
  const remove = db.prepare("DELETE FROM policies WHERE org_id = ? AND name = ?");
  const history = db.prepare(
    `INSERT INTO policy_history (org_id, revision, name, action, document, changed_at, actor)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const { now } = meta;
  const actor = meta.actor ?? null;
  for (const d of change.put) {
    upsert.run(orgId, d.name, d.document, d.ruleCount, revision, now, d.kind ?? "Policy");
    history.run(orgId, revision, d.name, "put", d.document, now, actor);
  }
  for (const name of change.remove) {
    remove.run(orgId, name);
    history.run(orgId, revision, name, "delete", null, now, actor);
  }
}

/** A policy_history row as read for `history` (both backends). */
export interface PolicyHistoryDbRow {
  revision: number;
  name: string;
  action: "put" | "delete";
  changed_at: number;
  actor: string | null;
}

/** A history row as `history` answers it (both backends). */
export function policyChangeRowOf(r: PolicyHistoryDbRow): PolicyChangeRow {
  return {
    revision: r.revision,
    name: r.name,
    action: r.action,
    changedAt: r.changed_at,
    actor: r.actor ?? undefined,
  };
}

/** Every change to the org's policies (or to the one named), newest first. */
export function readHistory(db: Db, orgId: string, name?: string): PolicyChangeRow[] {
  return db
    .prepare<[string, string | null, string | null], PolicyHistoryDbRow>(
      `SELECT revision, name, action, changed_at, actor FROM policy_history
       WHERE org_id = ? AND (? IS NULL OR name = ?) ORDER BY revision DESC, name`,
    )
    .all(orgId, name ?? null, name ?? null)
    .map(policyChangeRowOf);
}
