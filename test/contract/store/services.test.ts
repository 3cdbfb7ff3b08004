import { expect, it } from "vitest";
import { TesseraError } from "../../../src/domain/errors.js";
import type { IdentitySource } from "../../../src/domain/identity.js";
import type { Async } from "../../../src/store/contract/async.js";
import { PgServiceIdentityRepository } from "../../../src/store/postgres/services.js";
import {
  type BindingRow,
  type NamespaceRow,
  ServiceIdentityRepository,
} from "../../../src/store/services.js";
import { describeBackends, type Opened, seedOrg } from "./backends.js";
import {
  auditRows,
  changeRows,
  isUniqueViolation,
  outcome,
  race,
  reasonOf,
  rejection,
  twoReplicas,
} from "./replicas.js";

type Repo = ServiceIdentityRepository | PgServiceIdentityRepository;

function services(o: Opened): Repo {
  return o.kind === "sqlite" ? new ServiceIdentityRepository(o.db) : new PgServiceIdentityRepository(o.db);
}

// The PostgreSQL class must offer what the SQLite one does.
const _contract: (r: PgServiceIdentityRepository) => Async<ServiceIdentityRepository> = (r) => r;

const bindingRow = (orgId: string, identity: string, source: IdentitySource = "spiffe"): BindingRow => ({
  source,
  identity,
  orgId,
  createdAt: 1_700_000_000,
});

const ns = (orgId: string, pattern: string, match: "prefix" | "exact" = "prefix"): NamespaceRow => ({
  source: "spiffe",
  pattern,
  match,
  orgId,
  createdAt: 1_700_000_000,
});

/**
 * What the core's IdentityAdmin.bind does in its transaction (without the namespace check):
 * the existing binding if the org has it, IDENTITY_TAKEN if another org has, else a new one.
 */
function bind(repo: Repo, orgId: string, identity: string): Promise<BindingRow> | BindingRow {
  const taken = () => new TesseraError("IDENTITY_TAKEN", "that identity is already bound to an org");
  const fresh = bindingRow(orgId, identity);
  if (repo instanceof ServiceIdentityRepository) {
    return repo.transaction(() => {
      const existing = repo.binding("spiffe", identity);
      if (existing?.orgId === orgId) return existing;
      if (existing) throw taken();
      repo.insertBinding(fresh);
      repo.recordChange(orgId);
      return fresh;
    });
  }
  return repo.transaction(async () => {
    const existing = await repo.binding("spiffe", identity);
    if (existing?.orgId === orgId) return existing;
    if (existing) throw taken();
    await repo.insertBinding(fresh);
    await repo.recordChange(orgId);
    return fresh;
  });
}

async function seedOrgs(o: Opened): Promise<void> {
  for (const id of ["org_a", "org_b"]) await seedOrg(o, id);
}

describeBackends("service identity repository", (opened) => {
  it("binds, finds, lists and unbinds identities, auditing each", async () => {
    const o = opened();
    await seedOrgs(o);
    const repo: Async<ServiceIdentityRepository> = services(o);
    await repo.insertBinding(bindingRow("org_a", "spiffe://x/b"));
    await repo.insertBinding(bindingRow("org_a", "spiffe://x/a"));
    await repo.insertBinding(bindingRow("org_a", "client-1", "cn"));
    await repo.insertBinding(bindingRow("org_b", "spiffe://y/a"));

    expect(await repo.binding("spiffe", "spiffe://x/a")).toEqual(bindingRow("org_a", "spiffe://x/a"));
    expect(await repo.binding("cn", "spiffe://x/a")).toBeUndefined();
    expect((await repo.bindingsOf("org_a")).map((b) => [b.source, b.identity])).toEqual([
      ["cn", "client-1"],
      ["spiffe", "spiffe://x/a"],
      ["spiffe", "spiffe://x/b"],
    ]);
    expect(await repo.all()).toHaveLength(4);

    expect(await repo.deleteBinding("org_b", "spiffe", "spiffe://x/a")).toBe(false);
    expect(await repo.deleteBinding("org_a", "spiffe", "spiffe://x/a")).toBe(true);
    expect(await repo.deleteBinding("org_a", "spiffe", "spiffe://x/a")).toBe(false);
    expect(await repo.binding("spiffe", "spiffe://x/a")).toBeUndefined();

    // Bindings are recorded as changes only through recordChange.
    expect(await changeRows(o)).toEqual([]);
    const audits = await auditRows(o);
    expect(audits).toHaveLength(5);
    expect(audits[0]).toEqual({
      orgId: "org_a",
      action: "service_identity.bind",
      targetKind: "service_identity",
      targetId: "spiffe:spiffe://x/b",
      before: null,
      after: { bound: true },
    });
    expect(audits[4]).toEqual({
      orgId: "org_a",
      action: "service_identity.unbind",
      targetKind: "service_identity",
      targetId: "spiffe:spiffe://x/a",
      before: { bound: true },
      after: null,
    });
  });

  it("refuses a second binding of the same identity, writing no audit row for it", async () => {
    const o = opened();
    await seedOrgs(o);
    const repo: Async<ServiceIdentityRepository> = services(o);
    await repo.insertBinding(bindingRow("org_a", "spiffe://x/a"));
    expect(
      isUniqueViolation(await rejection(() => repo.insertBinding(bindingRow("org_b", "spiffe://x/a")))),
    ).toBe(true);
    expect(await repo.all()).toEqual([bindingRow("org_a", "spiffe://x/a")]);
    // SQLite writes the audit row after the insert, so a refused insert leaves none on either backend.
    expect(await auditRows(o)).toHaveLength(1);
  });

  it("records an identity change for the org", async () => {
    const o = opened();
    const repo: Async<ServiceIdentityRepository> = services(o);
    await repo.recordChange("org_a");
    expect(await changeRows(o)).toEqual([["identity", "org_a", null]]);
  });

  it("assigns, lists and unassigns namespaces, auditing each", async () => {
    const o = opened();
    await seedOrgs(o);
    const repo: Async<ServiceIdentityRepository> = services(o);
    await repo.insertNamespace(ns("org_b", "spiffe://b/"));
    await repo.insertNamespace(ns("org_a", "spiffe://z/"));
    await repo.insertNamespace(ns("org_a", "spiffe://a/svc", "exact"));
    expect((await repo.namespaces()).map((n) => [n.orgId, n.pattern])).toEqual([
      ["org_a", "spiffe://a/svc"],
      ["org_a", "spiffe://z/"],
      ["org_b", "spiffe://b/"],
    ]);
    expect(await repo.namespaces("org_b")).toEqual([ns("org_b", "spiffe://b/")]);
    expect(await repo.namespaces("org_none")).toEqual([]);
    expect(isUniqueViolation(await rejection(() => repo.insertNamespace(ns("org_b", "spiffe://z/"))))).toBe(
      true,
    );

    await repo.deleteNamespace("spiffe", "spiffe://a/svc");
    await repo.deleteNamespace("spiffe", "spiffe://missing/");
    await repo.deleteNamespace("cn", "spiffe://z/");
    expect((await repo.namespaces("org_a")).map((n) => n.pattern)).toEqual(["spiffe://z/"]);

    expect(await changeRows(o)).toEqual([]);
    const audits = await auditRows(o);
    expect(audits.map((a) => [a.orgId, a.action, a.targetId, a.before, a.after])).toEqual([
      ["org_b", "identity_namespace.assign", "spiffe:spiffe://b/", null, { match: "prefix" }],
      ["org_a", "identity_namespace.assign", "spiffe:spiffe://z/", null, { match: "prefix" }],
      ["org_a", "identity_namespace.assign", "spiffe:spiffe://a/svc", null, { match: "exact" }],
      ["org_a", "identity_namespace.unassign", "spiffe:spiffe://a/svc", { match: "exact" }, null],
    ]);
    expect(audits.every((a) => a.targetKind === "identity_namespace")).toBe(true);
  });

  it("knows whether an org exists", async () => {
    const o = opened();
    await seedOrgs(o);
    const repo: Async<ServiceIdentityRepository> = services(o);
    expect(await repo.orgExists("org_a")).toBe(true);
    expect(await repo.orgExists("org_missing")).toBe(false);
  });

  it("a transaction commits its writes together, and one that throws leaves none", async () => {
    const o = opened();
    await seedOrgs(o);
    const repo = services(o);
    expect(await bind(repo, "org_a", "spiffe://x/a")).toEqual(bindingRow("org_a", "spiffe://x/a"));
    expect(await bind(repo, "org_a", "spiffe://x/a")).toEqual(bindingRow("org_a", "spiffe://x/a"));
    expect(reasonOf(await rejection(() => bind(repo, "org_b", "spiffe://x/a")))).toBe("IDENTITY_TAKEN");

    const boom = new TesseraError("IDENTITY_NOT_FOUND", "rolled back");
    const failing =
      repo instanceof ServiceIdentityRepository
        ? () =>
            repo.transaction(() => {
              repo.insertBinding(bindingRow("org_b", "spiffe://y/b"));
              repo.recordChange("org_b");
              expect(repo.deleteBinding("org_a", "spiffe", "spiffe://x/a")).toBe(true);
              throw boom;
            })
        : () =>
            repo.transaction(async () => {
              await repo.insertBinding(bindingRow("org_b", "spiffe://y/b"));
              await repo.recordChange("org_b");
              // Inside the transaction its own writes are seen.
              expect(await repo.binding("spiffe", "spiffe://y/b")).toBeDefined();
              expect(await repo.deleteBinding("org_a", "spiffe", "spiffe://x/a")).toBe(true);
              throw boom;
            });
    expect(await rejection(failing)).toBe(boom);

    expect(await repo.all()).toEqual([bindingRow("org_a", "spiffe://x/a")]);
    expect(await changeRows(o)).toEqual([["identity", "org_a", null]]);
    expect((await auditRows(o)).map((a) => a.action)).toEqual(["service_identity.bind"]);
  });

  it("two replicas binding the same identity to two orgs at once: one binds, the other gets IDENTITY_TAKEN", async () => {
    const o = opened();
    await seedOrgs(o);
    const { a, b, close } = await twoReplicas(o);
    try {
      const [ra, rb] = await race(
        () => bind(services(a), "org_a", "spiffe://x/a"),
        () => bind(services(b), "org_b", "spiffe://x/a"),
      );
      const outcomes = [ra, rb].map((r) => (r.status === "fulfilled" ? r.value.orgId : outcome(r)));
      expect(outcomes.filter((x) => x === "IDENTITY_TAKEN")).toHaveLength(1);
      const stored = await services(o).all();
      expect(stored).toHaveLength(1);
      expect(outcomes).toContain(stored[0]?.orgId);
      expect(await changeRows(o)).toHaveLength(1);
      expect(await auditRows(o)).toHaveLength(1);
    } finally {
      await close();
    }
  });

  it("two replicas binding the same identity to one org at once: one binding, both answered it", async () => {
    const o = opened();
    await seedOrgs(o);
    const { a, b, close } = await twoReplicas(o);
    try {
      const [ra, rb] = await race(
        () => bind(services(a), "org_a", "spiffe://x/a"),
        () => bind(services(b), "org_a", "spiffe://x/a"),
      );
      expect([outcome(ra), outcome(rb)]).toEqual([
        bindingRow("org_a", "spiffe://x/a"),
        bindingRow("org_a", "spiffe://x/a"),
      ]);
      expect(await services(o).all()).toHaveLength(1);
      expect(await changeRows(o)).toHaveLength(1);
    } finally {
      await close();
    }
  });
});
