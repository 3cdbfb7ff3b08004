import type { IdentityNamespace, IdentitySource } from "../domain/identity.js";
import { AdminAuditLog, type AuditChange } from "./admin-audit.js";
import { ChangeLog } from "./changes.js";
import { type Db, immediateAsync } from "./db.js";

/** An mTLS identity bound to an org. */
export interface BindingRow {
  readonly source: IdentitySource;
  readonly identity: string;
  readonly orgId: string;
  /** Seconds since the epoch. */
  readonly createdAt: number;
}

/** A namespace of identities the operator assigned to an org. */
export interface NamespaceRow extends IdentityNamespace {
  readonly orgId: string;
  /** Seconds since the epoch. */
  readonly createdAt: number;
}

/** A service_identities row as both backends read it. */
export interface RawBinding {
  source: IdentitySource;
  identity: string;
  org_id: string;
  created_at: number;
}

/** An identity_namespaces row as both backends read it. */
export interface RawNamespace {
  source: IdentitySource;
  pattern: string;
  match: "prefix" | "exact";
  org_id: string;
  created_at: number;
}

export const binding = (r: RawBinding): BindingRow => ({
  source: r.source,
  identity: r.identity,
  orgId: r.org_id,
  createdAt: r.created_at,
});

export const namespace = (r: RawNamespace): NamespaceRow => ({
  source: r.source,
  pattern: r.pattern,
  match: r.match,
  orgId: r.org_id,
  createdAt: r.created_at,
});

/** The audit record of a binding made (`bound`) or removed. */
export function bindAudit(
  orgId: string,
  source: IdentitySource,
  identity: string,
  bound: boolean,
): AuditChange {
  const target = { targetKind: "service_identity", targetId: `${source}:${identity}` };
  return bound
    ? { orgId, action: "service_identity.bind", ...target, after: { bound: true } }
    : { orgId, action: "service_identity.unbind", ...target, before: { bound: true } };
}

/** The audit record of a namespace assigned (`assigned`) or unassigned. */
export function namespaceAudit(ns: NamespaceRow, assigned: boolean): AuditChange {
  const target = { targetKind: "identity_namespace", targetId: `${ns.source}:${ns.pattern}` };
  return assigned
    ? { orgId: ns.orgId, action: "identity_namespace.assign", ...target, after: { match: ns.match } }
    : { orgId: ns.orgId, action: "identity_namespace.unassign", ...target, before: { match: ns.match } };
}

/**
 * mTLS identities bound to orgs, keyed by (source, identity), and the namespaces the operator
 * assigned to orgs. Decisions that read and then write (may this org bind here? whose
 * bindings does an unassignment remove?) run inside `transaction`.
 */
export class ServiceIdentityRepository {
  private readonly changes: ChangeLog;
  private readonly audit: AdminAuditLog;

  constructor(private readonly db: Db) {
    this.changes = new ChangeLog(db);
    this.audit = new AdminAuditLog(db);
  }

  /**
   * Runs `fn` in one transaction begun with BEGIN IMMEDIATE, so the checks it makes still hold
   * when it writes, whichever process writes next.
   */
  transaction<T>(fn: () => T | Promise<T>): Promise<T> {
    return immediateAsync(this.db, fn);
  }

  /** Every binding (the in-memory lookup loads them all). */
  all(): BindingRow[] {
    return this.db.prepare<[], RawBinding>("SELECT * FROM service_identities").all().map(binding);
  }

  /** The org's bindings, by source and identity. */
  bindingsOf(orgId: string): BindingRow[] {
    return this.db
      .prepare<[string], RawBinding>(
        "SELECT * FROM service_identities WHERE org_id = ? ORDER BY source, identity",
      )
      .all(orgId)
      .map(binding);
  }

  binding(source: IdentitySource, identity: string): BindingRow | undefined {
    const row = this.db
      .prepare<[string, string], RawBinding>(
        "SELECT * FROM service_identities WHERE source = ? AND identity = ?",
      )
      .get(source, identity);
    return row && binding(row);
  }

  insertBinding(b: BindingRow): void {
    this.db
      .prepare("INSERT INTO service_identities (source, identity, org_id, created_at) VALUES (?, ?, ?, ?)")
      .run(b.source, b.identity, b.orgId, b.createdAt);
    this.audit.record(bindAudit(b.orgId, b.source, b.identity, true));
  }

  /** Removes the org's binding; false when it has none such. */
  deleteBinding(orgId: string, source: IdentitySource, identity: string): boolean {
    const info = this.db
      .prepare("DELETE FROM service_identities WHERE org_id = ? AND source = ? AND identity = ?")
      .run(orgId, source, identity);
    if (info.changes !== 1) return false;
    this.audit.record(bindAudit(orgId, source, identity, false));
    return true;
  }

  /**
   * Records an "identity" change (call inside the transaction that changed bindings): every
   * other process reloads its bindings.
   */
  recordChange(orgId: string): void {
    this.changes.record("identity", orgId);
  }

  /** Every namespace, or one org's, by source and pattern. */
  namespaces(orgId?: string): NamespaceRow[] {
    const sql = "SELECT * FROM identity_namespaces";
    const order = " ORDER BY org_id, source, pattern";
    const rows =
      orgId === undefined
        ? this.db.prepare<[], RawNamespace>(sql + order).all()
        : this.db.prepare<[string], RawNamespace>(`${sql} WHERE org_id = ?${order}`).all(orgId);
    return rows.map(namespace);
  }

  insertNamespace(ns: NamespaceRow): void {
    this.db
      .prepare(
        "INSERT INTO identity_namespaces (source, pattern, match, org_id, created_at) VALUES (?, ?, ?, ?, ?)",
      )
      .run(ns.source, ns.pattern, ns.match, ns.orgId, ns.createdAt);
    this.audit.record(namespaceAudit(ns, true));
  }

  deleteNamespace(source: IdentitySource, pattern: string): void {
    const gone = this.db
      .prepare<[string, string], RawNamespace>(
        "DELETE FROM identity_namespaces WHERE source = ? AND pattern = ? RETURNING *",
      )
      .get(source, pattern);
    if (!gone) return;
    this.audit.record(namespaceAudit(namespace(gone), false));
  }

  /** True when the org exists (a namespace is only assigned to a real org). */
  orgExists(orgId: string): boolean {
    const row = this.db
      .prepare<[string], { one: number }>("SELECT 1 AS one FROM orgs WHERE id = ?")
      .get(orgId);
    return row !== undefined;
  }
}
