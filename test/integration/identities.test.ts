import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { IdentitySource, Tier } from "../../gen/tessera/v1/types_pb.js";
import { createOrg, type NewOrg } from "../../src/core/bootstrap.js";
import { databasePath } from "../../src/store/db.js";
import { MIGRATIONS } from "../../src/store/migrations/index.js";
import { openStore } from "../../src/store/store.js";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera } from "../helpers/in-memory.js";
import { ManualClock } from "../helpers/lifecycle.js";
import { tempDir } from "../helpers/server.js";

const TD = "spiffe://example.org";

describe("service identities inside operator-assigned namespaces", () => {
  let t: InMemoryTessera;
  let other: NewOrg;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await inMemoryTessera(clock.now);
    other = await createOrg(t.store, "other", clock.now());
  });
  afterEach(() => t.close());

  const ours = () => ({ headers: t.adminHeaders });
  const theirs = () => ({ headers: { "x-api-key": other.apiKey, "x-admin-token": other.adminToken } });
  const op = () => ({ headers: t.operatorHeaders });
  const assign = (orgId: string, namespace: string) =>
    t.system.assignIdentityNamespace({ orgId, namespace }, op());
  const changes = () => t.store.changes.latest();
  const denied = async (call: Promise<unknown>, reason: string) =>
    expect(await failure(call)).toMatchObject({ code: Code.PermissionDenied, reason });

  it("refuses a binding in no namespace of the org, or in another org's, and writes nothing", async () => {
    await assign(other.orgId, `${TD}/payments/`);
    const before = changes();
    await denied(
      t.admin.bindServiceIdentity({ identity: `${TD}/payments` }, ours()),
      "IDENTITY_OUTSIDE_NAMESPACE",
    );
    await denied(
      t.admin.bindServiceIdentity({ identity: `${TD}/payments/api` }, ours()),
      "IDENTITY_OUTSIDE_NAMESPACE",
    );
    await denied(
      t.admin.bindServiceIdentity({ identity: `${TD}/orders` }, ours()),
      "IDENTITY_OUTSIDE_NAMESPACE",
    );
    await denied(
      t.admin.bindServiceIdentity({ identity: "billing-worker" }, ours()),
      "IDENTITY_OUTSIDE_NAMESPACE",
    );
    expect(changes()).toBe(before);
    expect(t.store.services.all()).toEqual([]);
    // The owner of the namespace may bind there.
    const bound = await t.admin.bindServiceIdentity({ identity: `${TD}/payments/api` }, theirs());
    expect(bound).toMatchObject({ orgId: other.orgId, source: IdentitySource.SPIFFE });
  });

  it("matches a path prefix by whole segments only", async () => {
    await assign(t.org.orgId, `${TD}/pay/`);
    await denied(
      t.admin.bindServiceIdentity({ identity: `${TD}/payments` }, ours()),
      "IDENTITY_OUTSIDE_NAMESPACE",
    );
    await t.admin.bindServiceIdentity({ identity: `${TD}/pay/api` }, ours());
    await t.admin.bindServiceIdentity({ identity: `${TD}/pay` }, ours());
  });

  it("lists and unbinds the org's own identities, and cannot unbind another org's", async () => {
    await assign(t.org.orgId, `${TD}/`);
    await assign(t.org.orgId, "cn:billing-worker");
    await assign(other.orgId, "spiffe://other.org/");
    await t.admin.bindServiceIdentity({ identity: `${TD}/gw` }, ours());
    await t.admin.bindServiceIdentity({ identity: "billing-worker" }, ours());
    await t.admin.bindServiceIdentity({ identity: "spiffe://other.org/x" }, theirs());
    const listed = await t.admin.listServiceIdentities({}, ours());
    expect(listed.identities.map((i) => [i.source, i.identity])).toEqual([
      [IdentitySource.CN, "billing-worker"],
      [IdentitySource.SPIFFE, `${TD}/gw`],
    ]);
    expect(listed.namespaces.map((n) => n.namespace).sort()).toEqual(["cn:billing-worker", `${TD}/`]);
    expect(
      (await failure(t.admin.unbindServiceIdentity({ identity: "spiffe://other.org/x" }, ours()))).reason,
    ).toBe("IDENTITY_NOT_FOUND");
    await t.admin.unbindServiceIdentity({ identity: "billing-worker", source: IdentitySource.CN }, ours());
    expect((await t.admin.listServiceIdentities({}, ours())).identities.map((i) => i.identity)).toEqual([
      `${TD}/gw`,
    ]);
    expect((await t.admin.listServiceIdentities({}, theirs())).identities).toHaveLength(1);
  });

  it("keys bindings by source: a CN binding is not a SPIFFE binding of the same text", async () => {
    await assign(t.org.orgId, "cn:gateway");
    await t.admin.bindServiceIdentity({ identity: "gateway" }, ours());
    const attributes = { id: "a", tier: Tier.VERIFIED, roles: ["operator"] };
    const query = { subject: { case: "attributes" as const, value: attributes }, scope: "governance:read" };
    expect((await t.asPeer({ id: "gateway", source: "cn" }).auth.authorize(query)).decision).toBe(
      Decision.ALLOW,
    );
    const spiffeNamed = t.asPeer({ id: "gateway", source: "spiffe" });
    expect((await failure(spiffeNamed.auth.authorize(query))).reason).toBe("CALLER_UNIDENTIFIED");
  });

  it("gives no other org a namespace that overlaps one already assigned", async () => {
    await assign(t.org.orgId, `${TD}/payments/`);
    for (const ns of [`${TD}/`, `${TD}/payments/api/`, `${TD}/payments`, `${TD}/payments/x`]) {
      expect(await failure(assign(other.orgId, ns))).toMatchObject({
        code: Code.AlreadyExists,
        reason: "NAMESPACE_TAKEN",
      });
    }
    await assign(other.orgId, `${TD}/payroll/`);
    // The same org may hold nested namespaces; assigning one it has changes nothing.
    await assign(t.org.orgId, `${TD}/payments/api`);
    const again = await assign(t.org.orgId, `${TD}/payments/`);
    expect(again.namespace).toMatchObject({ orgId: t.org.orgId, prefix: true });
    const all = (await t.system.listIdentityNamespaces({}, op())).namespaces.map((n) => n.namespace);
    expect(all.sort()).toEqual([`${TD}/payments/`, `${TD}/payments/api`, `${TD}/payroll/`]);
  });

  it("refuses a bad namespace or an unknown org", async () => {
    expect(await failure(assign(t.org.orgId, "example.org"))).toMatchObject({
      code: Code.InvalidArgument,
      reason: "NAMESPACE_INVALID",
    });
    expect(await failure(assign("org_nope", `${TD}/`))).toMatchObject({
      code: Code.NotFound,
      reason: "ORG_NOT_FOUND",
    });
    expect(await failure(t.system.unassignIdentityNamespace({ namespace: `${TD}/` }, op()))).toMatchObject({
      code: Code.NotFound,
      reason: "NAMESPACE_NOT_FOUND",
    });
  });

  it("unassigning removes the org's bindings it covered, except those another of its namespaces covers", async () => {
    await assign(t.org.orgId, `${TD}/`);
    await assign(t.org.orgId, `${TD}/keep`);
    for (const id of [`${TD}/a`, `${TD}/b/c`, `${TD}/keep`])
      await t.admin.bindServiceIdentity({ identity: id }, ours());
    const peer = t.asPeer({ id: `${TD}/a`, source: "spiffe" });
    expect((await peer.auth.authenticate({})).principal?.orgId).toBe(t.org.orgId);
    const before = changes();
    const res = await t.system.unassignIdentityNamespace({ namespace: `${TD}/` }, op());
    expect(res.removed.map((r) => r.identity).sort()).toEqual([`${TD}/a`, `${TD}/b/c`]);
    expect(changes()).toBeGreaterThan(before);
    expect((await t.admin.listServiceIdentities({}, ours())).identities.map((i) => i.identity)).toEqual([
      `${TD}/keep`,
    ]);
    expect((await peer.auth.authenticate({})).principal?.orgId).toBe("");
    await denied(t.admin.bindServiceIdentity({ identity: `${TD}/a` }, ours()), "IDENTITY_OUTSIDE_NAMESPACE");
  });
});

describe("migration 10 and bindings made before namespaces existed", () => {
  it("keeps each old binding working for its org, with its source, as an exact namespace no other org can take", async () => {
    const tmp = tempDir();
    try {
      const db = new Database(databasePath(tmp.dir));
      for (const m of MIGRATIONS.filter((x) => x.version <= 6)) {
        db.exec(m.sql);
        db.pragma(`user_version = ${m.version}`);
      }
      db.prepare("INSERT INTO orgs (id, name, created_at) VALUES ('org_a', 'a', 1), ('org_b', 'b', 1)").run();
      db.prepare(
        `INSERT INTO service_identities (identity, org_id, created_at)
         VALUES ('spiffe://example.org/payments', 'org_b', 2), ('billing-worker', 'org_a', 3)`,
      ).run();
      db.close();
      const store = openStore(tmp.dir);
      try {
        expect(store.services.all().sort((x, y) => x.identity.localeCompare(y.identity))).toEqual([
          { source: "cn", identity: "billing-worker", orgId: "org_a", createdAt: 3 },
          { source: "spiffe", identity: "spiffe://example.org/payments", orgId: "org_b", createdAt: 2 },
        ]);
        expect(store.services.namespaces().map((n) => [n.orgId, n.source, n.pattern, n.match])).toEqual([
          ["org_a", "cn", "billing-worker", "exact"],
          ["org_b", "spiffe", "spiffe://example.org/payments", "exact"],
        ]);
      } finally {
        void store.close();
      }
    } finally {
      tmp.cleanup();
    }
  });
});
