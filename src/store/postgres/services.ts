import { AsyncLocalStorage } from "node:async_hooks";
import type { IdentitySource } from "../../domain/identity.js";
import {
  type BindingRow,
  bindAudit,
  binding,
  type NamespaceRow,
  namespace,
  namespaceAudit,
  type RawBinding,
  type RawNamespace,
} from "../services.js";
import { recordAudit, recordChange } from "./changes.js";
import type { PgDb, Sql } from "./pg-db.js";

/**
 * The lock every write to bindings and namespaces takes (SQLite's BEGIN IMMEDIATE for this
 * repository): held to the end of its transaction, so the checks a transaction makes still hold
 * when it writes, whichever replica writes next.
 */
const LOCK = "SELECT pg_advisory_xact_lock(hashtext('tessera.service_identities'))";

/**
 * mTLS identities bound to orgs and the namespaces assigned to orgs, on PostgreSQL (see the
 * SQLite ServiceIdentityRepository). Inside `transaction`, every method runs on that
 * transaction's connection (found through async context, as the core calls them unchanged).
 */
export class PgServiceIdentityRepository {
  private readonly current = new AsyncLocalStorage<Sql>();

  constructor(private readonly db: PgDb) {}

  /** The running transaction, or the pool. */
  private get sql(): Sql {
    return this.current.getStore() ?? this.db;
  }

  /**
   * Runs `fn` in one transaction holding this repository's lock (every method it calls uses
   * that transaction); one already running is joined. `fn` may run again after a deadlock or
   * serialization failure, so it must have no effects outside the database.
   */
  async transaction<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.current.getStore()) return fn();
    return this.db.tx(async (sql) => {
      await sql.query(LOCK);
      return this.current.run(sql, fn);
    });
  }

  /** Every binding (the in-memory lookup loads them all). */
  async all(): Promise<BindingRow[]> {
    return (await this.sql.query<RawBinding>("SELECT * FROM service_identities")).map(binding);
  }

  /** The org's bindings, by source and identity. */
  async bindingsOf(orgId: string): Promise<BindingRow[]> {
    const rows = await this.sql.query<RawBinding>(
      `SELECT * FROM service_identities WHERE org_id = $1 ORDER BY source COLLATE "C", identity COLLATE "C"`,
      [orgId],
    );
    return rows.map(binding);
  }

  async binding(source: IdentitySource, identity: string): Promise<BindingRow | undefined> {
    const row = await this.sql.one<RawBinding>(
      "SELECT * FROM service_identities WHERE source = $1 AND identity = $2",
      [source, identity],
    );
    return row && binding(row);
  }

  async insertBinding(b: BindingRow): Promise<void> {
    await this.transaction(async () => {
      await this.sql.query(
        "INSERT INTO service_identities (source, identity, org_id, created_at) VALUES ($1, $2, $3, $4)",
        [b.source, b.identity, b.orgId, b.createdAt],
      );
      await recordAudit(this.sql, bindAudit(b.orgId, b.source, b.identity, true));
    });
  }

  /** Removes the org's binding; false when it has none such. */
  async deleteBinding(orgId: string, source: IdentitySource, identity: string): Promise<boolean> {
    return this.transaction(async () => {
      const gone = await this.sql.one(
        "DELETE FROM service_identities WHERE org_id = $1 AND source = $2 AND identity = $3 RETURNING org_id",
        [orgId, source, identity],
      );
      if (!gone) return false;
      await recordAudit(this.sql, bindAudit(orgId, source, identity, false));
      return true;
    });
  }

  /**
   * Records an "identity" change (call inside the transaction that changed bindings): every
   * other replica reloads its bindings.
   */
  async recordChange(orgId: string): Promise<void> {
    await recordChange(this.sql, "identity", orgId);
  }

  /** Every namespace, or one org's, by source and pattern. */
  async namespaces(orgId?: string): Promise<NamespaceRow[]> {
    const order = ` ORDER BY org_id COLLATE "C", source COLLATE "C", pattern COLLATE "C"`;
    const rows =
      orgId === undefined
        ? await this.sql.query<RawNamespace>(`SELECT * FROM identity_namespaces${order}`)
        : await this.sql.query<RawNamespace>(`SELECT * FROM identity_namespaces WHERE org_id = $1${order}`, [
            orgId,
          ]);
    return rows.map(namespace);
  }

  async insertNamespace(ns: NamespaceRow): Promise<void> {
    await this.transaction(async () => {
      await this.sql.query(
        "INSERT INTO identity_namespaces (source, pattern, match, org_id, created_at) VALUES ($1, $2, $3, $4, $5)",
        [ns.source, ns.pattern, ns.match, ns.orgId, ns.createdAt],
      );
      await recordAudit(this.sql, namespaceAudit(ns, true));
    });
  }

  async deleteNamespace(source: IdentitySource, pattern: string): Promise<void> {
    await this.transaction(async () => {
      const gone = await this.sql.one<RawNamespace>(
        "DELETE FROM identity_namespaces WHERE source = $1 AND pattern = $2 RETURNING *",
        [source, pattern],
      );
      if (gone) await recordAudit(this.sql, namespaceAudit(namespace(gone), false));
    });
  }

  /** True when the org exists (a namespace is only assigned to a real org). */
  async orgExists(orgId: string): Promise<boolean> {
    return (await this.sql.one("SELECT 1 AS one FROM orgs WHERE id = $1", [orgId])) !== undefined;
  }
}
