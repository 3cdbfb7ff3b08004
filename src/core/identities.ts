import type { BoundIdentities } from "../auth/bound-identities.js";
import { TesseraError } from "../domain/errors.js";
import {
  formatNamespace,
  type IdentitySource,
  namespaceCovers,
  namespacesOverlap,
  parseNamespace,
  parseServiceIdentity,
} from "../domain/identity.js";
import { epochSeconds } from "../domain/time.js";
import type { Async } from "../store/contract/async.js";
import type { BindingRow, NamespaceRow, ServiceIdentityRepository } from "../store/services.js";

export interface IdentityAdminDeps {
  readonly services: Async<ServiceIdentityRepository>;
  readonly identities: BoundIdentities;
  readonly now: () => Date;
}

/** What unassigning a namespace did. */
export interface Unassigned {
  readonly namespace: NamespaceRow;
  /** The org's bindings in it that no other namespace of the org still covers: removed. */
  readonly removed: readonly BindingRow[];
}

const bindingAsIdentity = (b: BindingRow) => ({ source: b.source, id: b.identity });

/**
 * mTLS identities and who may bind them. The operator assigns namespaces to orgs (never
 * overlapping another org's); an org admin binds identities only inside its org's namespaces.
 * Every read-then-write runs under the store's write lock, and every change to the bindings
 * reaches this process at once and every other through the change log.
 */
export class IdentityAdmin {
  constructor(private readonly d: IdentityAdminDeps) {}

  private nowSec(): number {
    return epochSeconds(this.d.now());
  }

  /** Binds an identity to `orgId`: it must lie in one of the org's namespaces. Idempotent. */
  async bind(orgId: string, text: string, source?: IdentitySource): Promise<BindingRow> {
    const identity = parseServiceIdentity(text, source);
    const row = (await this.d.services.transaction(async () => {
      if (!(await this.d.services.namespaces(orgId)).some((ns) => namespaceCovers(ns, identity)))
        throw new TesseraError(
          "IDENTITY_OUTSIDE_NAMESPACE",
          "that identity is in no namespace the operator assigned to this org",
          { identity: identity.id, source: identity.source },
        );
      const existing = await this.d.services.binding(identity.source, identity.id);
      if (existing?.orgId === orgId) return existing;
      // Only bindings made before namespaces existed can sit in another org's namespace.
      if (existing) throw new TesseraError("IDENTITY_TAKEN", "that identity is already bound to an org");
      const fresh = { source: identity.source, identity: identity.id, orgId, createdAt: this.nowSec() };
      await this.d.services.insertBinding(fresh);
      await this.d.services.recordChange(orgId);
      return fresh;
    })) as BindingRow; // Async<> drops transaction's type parameter
    await this.d.identities.reload();
    return row;
  }

  /** The org's bindings and the namespaces it may bind in. */
  async list(orgId: string): Promise<{ bindings: BindingRow[]; namespaces: NamespaceRow[] }> {
    return {
      bindings: await this.d.services.bindingsOf(orgId),
      namespaces: await this.d.services.namespaces(orgId),
    };
  }

  /** Removes one of the org's bindings. */
  async unbind(orgId: string, text: string, source?: IdentitySource): Promise<void> {
    const identity = parseServiceIdentity(text, source);
    const s = this.d.services;
    await s.transaction(async () => {
      if (!(await s.deleteBinding(orgId, identity.source, identity.id)))
        throw new TesseraError("IDENTITY_NOT_FOUND", "this org has no such identity bound");
      await s.recordChange(orgId);
    });
    await this.d.identities.reload();
  }

  /** The operator's view: every namespace, or one org's. */
  async namespaces(orgId?: string): Promise<NamespaceRow[]> {
    return this.d.services.namespaces(orgId);
  }

  /**
   * Assigns a namespace to an org. Refused when it overlaps a namespace of another org (unassign
   * that first); assigning one the org already has changes nothing.
   */
  async assign(orgId: string, text: string): Promise<NamespaceRow> {
    const ns = parseNamespace(text);
    const s = this.d.services;
    return (await s.transaction(async () => {
      if (!orgId || !(await s.orgExists(orgId))) throw new TesseraError("ORG_NOT_FOUND", "no such org");
      const all = await s.namespaces();
      const clash = all.find((m) => m.orgId !== orgId && namespacesOverlap(m, ns));
      if (clash)
        throw new TesseraError("NAMESPACE_TAKEN", "that namespace overlaps one assigned to another org", {
          namespace: formatNamespace(clash),
          orgId: clash.orgId,
        });
      const same = all.find((m) => m.source === ns.source && m.pattern === ns.pattern);
      if (same) return same;
      const row = { ...ns, orgId, createdAt: this.nowSec() };
      await s.insertNamespace(row);
      return row;
    })) as NamespaceRow;
  }

  /** Unassigns a namespace and removes the org's bindings that no other namespace of it covers. */
  async unassign(text: string): Promise<Unassigned> {
    const ns = parseNamespace(text);
    const s = this.d.services;
    const result = (await s.transaction(async () => {
      const own = (await s.namespaces()).filter((m) => m.source === ns.source);
      const namespace = own.find((m) => m.pattern === ns.pattern);
      if (!namespace) throw new TesseraError("NAMESPACE_NOT_FOUND", "no such namespace is assigned");
      await s.deleteNamespace(namespace.source, namespace.pattern);
      const rest = own.filter((m) => m.orgId === namespace.orgId && m.pattern !== namespace.pattern);
      const removed = (await s.bindingsOf(namespace.orgId)).filter((b) => {
        const id = bindingAsIdentity(b);
        return namespaceCovers(namespace, id) && !rest.some((m) => namespaceCovers(m, id));
      });
      for (const b of removed) await s.deleteBinding(b.orgId, b.source, b.identity);
      if (removed.length > 0) await s.recordChange(namespace.orgId);
      return { namespace, removed };
    })) as Unassigned;
    await this.d.identities.reload();
    return result;
  }
}
