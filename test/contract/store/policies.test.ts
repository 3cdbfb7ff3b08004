import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TesseraError } from "../../../src/domain/errors.js";
import type { Async } from "../../../src/store/contract/async.js";
import { PolicyRepository, type PolicyWrite } from "../../../src/store/policies.js";
import { policySetDigest } from "../../../src/store/policy-digest.js";
import { PgDb } from "../../../src/store/postgres/pg-db.js";
import { PgPolicyRepository } from "../../../src/store/postgres/policies.js";
import { openTestPg, pgSkipReason } from "../../helpers/pg.js";
import { describeBackends, insertRows, type Opened, seedOrg, selectRows } from "./backends.js";
import { meeting } from "./meeting.js";

type Policies = Async<PolicyRepository>;

function policies(o: Opened): Policies {
  return o.kind === "sqlite" ? new PolicyRepository(o.db) : new PgPolicyRepository(o.db);
}

const A = "org-a";
const B = "org-b";
const T0 = 1_700_000_100;
const meta = (now = T0, actor?: string) => ({ now, actor });
const none = () => {};

/** A document whose text is made from its name (and a version, to change it). */
function doc(name: string, version = 1, kind?: "Policy" | "RouteMap"): PolicyWrite {
  return { name, document: `kind: ${name}\nversion: ${version}\n`, ruleCount: version, kind };
}

/** The digest of {B, a} as fixed text: both backends must produce exactly this. */
const DIGEST_B_A = "3211cf9e5970817c5997018678597d6b5a8f1767a9454e3cea6a5b32cc2c458e";
const EMPTY_DIGEST = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const changes = (o: Opened) =>
  selectRows<{ kind: string; org_id: string | null; ref: string | null }>(
    o,
    "SELECT kind, org_id, ref FROM changes ORDER BY seq",
  );

async function audits(o: Opened) {
  const rows = await selectRows<{
    org_id: string | null;
    actor: string;
    action: string;
    target_kind: string;
    target_id: string;
    before: string | null;
    after: string | null;
  }>(o, "SELECT org_id, actor, action, target_kind, target_id, before, after FROM admin_audit ORDER BY seq");
  return rows.map((r) => ({
    ...r,
    before: r.before === null ? null : JSON.parse(r.before),
    after: r.after === null ? null : JSON.parse(r.after),
  }));
}

describeBackends("policy repository", (opened) => {
  it("commits new documents as revision 1, with their digest, a change row and an audit row", async () => {
    const o = opened();
    const p = policies(o);
    await seedOrg(o, A);
    const seen: number[] = [];
    const put = [
      { name: "a", document: "kind: a\n", ruleCount: 2 },
      { name: "B", document: "kind: B\n", ruleCount: 1, kind: "RouteMap" as const },
    ];
    const done = await p.commit(A, { put }, meta(T0, "admin:k1"), (base) => {
      seen.push(base.revision, base.named().length);
    });
    expect(seen).toEqual([0, 0]);
    expect(done).toEqual({
      added: ["a", "B"],
      changed: [],
      removed: [],
      same: [],
      revision: 1,
      unchanged: false,
      digest: DIGEST_B_A,
    });
    expect(await p.storedRevision(A)).toBe(1);
    expect(await p.state(A)).toEqual({ revision: 1, digest: DIGEST_B_A });
    expect(await p.named(A)).toEqual([
      { name: "B", document: "kind: B\n" },
      { name: "a", document: "kind: a\n" },
    ]);
    expect(await p.documents(A)).toEqual(["kind: B\n", "kind: a\n"]);
    expect(await p.list(A)).toEqual([
      { name: "B", kind: "RouteMap", revision: 1, ruleCount: 1, updatedAt: T0 },
      { name: "a", kind: "Policy", revision: 1, ruleCount: 2, updatedAt: T0 },
    ]);
    expect(await p.get(A, "a")).toEqual({ revision: 1, document: "kind: a\n" });
    expect(await p.snapshot(A)).toEqual({ revision: 1, documents: await p.named(A), digest: DIGEST_B_A });
    expect(await p.history(A)).toEqual([
      { revision: 1, name: "B", action: "put", changedAt: T0, actor: "admin:k1" },
      { revision: 1, name: "a", action: "put", changedAt: T0, actor: "admin:k1" },
    ]);
    expect(await selectRows(o, "SELECT org_id, revision, digest, created_at FROM policy_revisions")).toEqual([
      { org_id: A, revision: 1, digest: DIGEST_B_A, created_at: T0 },
    ]);
    expect(await changes(o)).toEqual([{ kind: "policy", org_id: A, ref: "1" }]);
    expect(await audits(o)).toEqual([
      {
        org_id: A,
        actor: "server",
        action: "policy.change",
        target_kind: "policy",
        target_id: "a,B",
        before: { revision: 0 },
        after: {
          revision: 1,
          added: ["a", "B"],
          changed: [],
          removed: [],
          kinds: ["a:Policy", "B:RouteMap"],
        },
      },
    ]);
  });

  it("makes no revision, change or audit row when every document is stored exactly so", async () => {
    const o = opened();
    const p = policies(o);
    await seedOrg(o, A);
    await p.commit(A, { put: [doc("a")] }, meta(), none);
    const again = await p.commit(A, { put: [doc("a")] }, meta(T0 + 5), none);
    expect(again).toEqual({ added: [], changed: [], removed: [], same: ["a"], revision: 1, unchanged: true });
    expect(await p.storedRevision(A)).toBe(1);
    expect(await p.history(A)).toHaveLength(1);
    expect(await changes(o)).toHaveLength(1);
    expect(await audits(o)).toHaveLength(1);
  });

  it("changes, adds and removes in one revision, and keeps every revision readable", async () => {
    const o = opened();
    const p = policies(o);
    await seedOrg(o, A);
    await p.commit(A, { put: [doc("a"), doc("b")] }, meta(T0), none);
    const bases: { revision: number; names: string[] }[] = [];
    const done = await p.commit(
      A,
      { put: [doc("a", 2), doc("c"), doc("b")], remove: [] },
      meta(T0 + 10, "user:u1"),
      (base) => {
        bases.push({ revision: base.revision, names: base.named().map((d) => d.name) });
      },
    );
    expect(bases).toEqual([{ revision: 1, names: ["a", "b"] }]);
    expect(done).toMatchObject({
      added: ["c"],
      changed: ["a"],
      removed: [],
      same: ["b"],
      revision: 2,
      unchanged: false,
    });
    const removed = await p.commit(A, { remove: ["b"] }, meta(T0 + 20), none);
    expect(removed).toMatchObject({ added: [], changed: [], removed: ["b"], same: [], revision: 3 });
    const digest3 = policySetDigest([
      { name: "a", document: doc("a", 2).document },
      { name: "c", document: doc("c").document },
    ]);
    expect(removed?.unchanged === false && removed.digest).toBe(digest3);
    expect(await p.state(A)).toEqual({ revision: 3, digest: digest3 });

    expect(await p.get(A, "a", 1)).toEqual({ revision: 1, document: doc("a").document });
    expect(await p.get(A, "a", 2)).toEqual({ revision: 2, document: doc("a", 2).document });
    expect(await p.get(A, "a", 3)).toEqual({ revision: 2, document: doc("a", 2).document });
    expect(await p.get(A, "b", 2)).toEqual({ revision: 1, document: doc("b").document });
    expect(await p.get(A, "b", 3)).toBeUndefined();
    expect(await p.get(A, "b")).toBeUndefined();
    expect(await p.get(A, "c", 1)).toBeUndefined();
    expect(await p.get(A, "nope")).toBeUndefined();

    expect(await p.history(A, "b")).toEqual([
      { revision: 3, name: "b", action: "delete", changedAt: T0 + 20, actor: undefined },
      { revision: 1, name: "b", action: "put", changedAt: T0, actor: undefined },
    ]);
    expect((await p.history(A)).map((h) => [h.revision, h.name, h.action])).toEqual([
      [3, "b", "delete"],
      [2, "a", "put"],
      [2, "c", "put"],
      [1, "a", "put"],
      [1, "b", "put"],
    ]);
    expect(await p.list(A)).toEqual([
      { name: "a", kind: "Policy", revision: 2, ruleCount: 2, updatedAt: T0 + 10 },
      { name: "c", kind: "Policy", revision: 2, ruleCount: 1, updatedAt: T0 + 10 },
    ]);
    expect(await changes(o)).toEqual([1, 2, 3].map((r) => ({ kind: "policy", org_id: A, ref: String(r) })));
    expect((await audits(o)).map((a) => [a.target_id, a.before, a.after])).toEqual([
      [
        "a,b",
        { revision: 0 },
        { revision: 1, added: ["a", "b"], changed: [], removed: [], kinds: ["a:Policy", "b:Policy"] },
      ],
      [
        "c,a",
        { revision: 1 },
        { revision: 2, added: ["c"], changed: ["a"], removed: [], kinds: ["a:Policy", "c:Policy"] },
      ],
      ["b", { revision: 2 }, { revision: 3, added: [], changed: [], removed: ["b"], kinds: [] }],
    ]);
  });

  it("prunes every stored document not put", async () => {
    const o = opened();
    const p = policies(o);
    await seedOrg(o, A);
    await p.commit(A, { put: [doc("a"), doc("b"), doc("c")] }, meta(), none);
    const done = await p.commit(A, { put: [doc("b")], prune: true }, meta(), none);
    expect(done).toMatchObject({ added: [], changed: [], removed: ["a", "c"], same: ["b"], revision: 2 });
    expect(await p.documents(A)).toEqual([doc("b").document]);
    const emptied = await p.commit(A, { prune: true }, meta(), none);
    expect(emptied).toMatchObject({ removed: ["b"], revision: 3, unchanged: false, digest: EMPTY_DIGEST });
    expect(await p.snapshot(A)).toEqual({ revision: 3, documents: [], digest: EMPTY_DIGEST });
  });

  it("writes nothing when a document to remove is not stored", async () => {
    const o = opened();
    const p = policies(o);
    await seedOrg(o, A);
    await p.commit(A, { put: [doc("a")] }, meta(), none);
    expect(await p.commit(A, { put: [doc("b")], remove: ["zzz"] }, meta(), none)).toBeUndefined();
    expect(await p.storedRevision(A)).toBe(1);
    expect(await p.documents(A)).toEqual([doc("a").document]);
    expect(await changes(o)).toHaveLength(1);
    expect(await audits(o)).toHaveLength(1);
  });

  it("rolls everything back when the check throws, and passes its error on", async () => {
    const o = opened();
    const p = policies(o);
    await seedOrg(o, A);
    await p.commit(A, { put: [doc("a")] }, meta(), none);
    const refuse = () => {
      throw new TesseraError("POLICY_INVALID", "refused");
    };
    await expect(async () =>
      p.commit(A, { put: [doc("b")], remove: ["a"] }, meta(), refuse),
    ).rejects.toMatchObject({
      reason: "POLICY_INVALID",
    });
    expect(await p.state(A)).toEqual({
      revision: 1,
      digest: policySetDigest([{ name: "a", document: doc("a").document }]),
    });
    expect(await p.named(A)).toEqual([{ name: "a", document: doc("a").document }]);
    expect(await p.history(A)).toHaveLength(1);
    expect(await changes(o)).toHaveLength(1);
    expect(await audits(o)).toHaveLength(1);
  });

  it("refuses a put to an org that does not exist, writing nothing", async () => {
    const o = opened();
    const p = policies(o);
    await expect(async () => p.commit("ghost", { put: [doc("a")] }, meta(), none)).rejects.toThrow();
    expect(await changes(o)).toEqual([]);
    expect(await p.storedRevision("ghost")).toBe(0);
    expect(await p.state("ghost")).toEqual({ revision: 0, digest: null });
    expect(await p.snapshot("ghost")).toEqual({ revision: 0, documents: [], digest: EMPTY_DIGEST });
    expect(await p.history("ghost")).toEqual([]);
    expect(await p.list("ghost")).toEqual([]);
  });

  it("reports every org's state and loads every org's set", async () => {
    const o = opened();
    const p = policies(o);
    await seedOrg(o, A);
    await seedOrg(o, B);
    await seedOrg(o, "org-c");
    await p.commit(A, { put: [doc("a")] }, meta(), none);
    await p.commit(A, { put: [doc("a", 2)] }, meta(), none);
    await p.commit(
      B,
      {
        put: [
          { name: "a", document: "kind: a\n", ruleCount: 1 },
          { name: "B", document: "kind: B\n", ruleCount: 1 },
        ],
      },
      meta(),
      none,
    );
    // A revision made before digests were stored has none.
    await insertRows(o, "orgs", [{ id: "org-old", name: "old", policy_revision: 4, created_at: T0 }]);
    const digestA = policySetDigest([{ name: "a", document: doc("a", 2).document }]);
    const byOrg = <T extends { orgId: string }>(xs: Iterable<T>) =>
      [...xs].sort((x, y) => (x.orgId < y.orgId ? -1 : 1));
    expect(byOrg(await p.states())).toEqual([
      { orgId: A, revision: 2, digest: digestA },
      { orgId: B, revision: 1, digest: DIGEST_B_A },
      { orgId: "org-c", revision: 0, digest: null },
      { orgId: "org-old", revision: 4, digest: null },
    ]);
    expect(await p.state("org-old")).toEqual({ revision: 4, digest: null });
    expect(byOrg(await p.loadAll())).toEqual([
      { orgId: A, revision: 2, documents: [doc("a", 2).document], digest: digestA },
      { orgId: B, revision: 1, documents: ["kind: B\n", "kind: a\n"], digest: DIGEST_B_A },
      { orgId: "org-c", revision: 0, documents: [], digest: EMPTY_DIGEST },
      { orgId: "org-old", revision: 4, documents: [], digest: EMPTY_DIGEST },
    ]);
    // Each org's history and documents are its own.
    expect((await p.history(B)).map((h) => h.name)).toEqual(["B", "a"]);
    expect(await p.get(B, "a", 1)).toEqual({ revision: 1, document: "kind: a\n" });
  });
});

describe.skipIf(pgSkipReason !== undefined)("policy repository on two PostgreSQL replicas", () => {
  let pg: Awaited<ReturnType<typeof openTestPg>> | undefined;
  let other: PgDb | undefined;
  const both = () => {
    if (!pg || !other) throw new Error("not opened");
    const o: Opened = { kind: "postgres", db: pg.db };
    return { o, one: new PgPolicyRepository(pg.db), two: new PgPolicyRepository(other) };
  };
  beforeAll(async () => {
    pg = await openTestPg();
    other = new PgDb(pg.url);
  });
  afterAll(async () => {
    await other?.close();
    await pg?.drop();
  });

  it("lets only one of two simultaneous removals of a document through", async () => {
    const { o, one, two } = both();
    await seedOrg(o, A);
    await one.commit(A, { put: [doc("x"), doc("y")] }, meta(), none);
    const meet = meeting(2);
    const bases: number[] = [];
    const check = async (base: { revision: number }) => {
      bases.push(base.revision);
      await meet();
    };
    const results = await Promise.all([
      one.commit(A, { remove: ["x"] }, meta(), check),
      two.commit(A, { remove: ["x"] }, meta(), check),
    ]);
    expect(bases).toEqual([1, 2]);
    expect(results.filter((r) => r === undefined)).toHaveLength(1);
    expect(results.find((r) => r !== undefined)).toMatchObject({ removed: ["x"], revision: 2 });
    expect(await one.state(A)).toEqual({
      revision: 2,
      digest: policySetDigest([{ name: "y", document: doc("y").document }]),
    });
    expect((await one.history(A, "x")).map((h) => h.action)).toEqual(["delete", "put"]);
    expect(await changes(o)).toEqual([1, 2].map((r) => ({ kind: "policy", org_id: A, ref: String(r) })));
  });

  it("gives concurrent commits from two replicas distinct revisions, each built on the one before", async () => {
    const { o, one, two } = both();
    await seedOrg(o, B);
    const N = 12;
    const run = (repo: PgPolicyRepository, side: string) =>
      Promise.all(
        Array.from({ length: N }, (_, i) =>
          repo.commit(B, { put: [doc(`${side}${i}`)] }, meta(T0 + i), none),
        ),
      );
    const [ones, twos] = await Promise.all([run(one, "one-"), run(two, "two-")]);
    const revisions = [...ones, ...twos].map((r) => r?.revision ?? 0).sort((x, y) => x - y);
    expect(revisions).toEqual(Array.from({ length: 2 * N }, (_, i) => i + 1));
    expect(await two.storedRevision(B)).toBe(2 * N);
    expect(await one.documents(B)).toHaveLength(2 * N);
    // Every audit row says the revision was made on its predecessor: no two read the same base.
    const made = (await audits(o))
      .filter((a) => a.org_id === B)
      .map((a) => [a.before.revision, a.after.revision]);
    expect(made.sort((x, y) => x[0] - y[0])).toEqual(revisions.map((r) => [r - 1, r]));
    // Every revision's stored digest is that of the set its history adds up to.
    const stored = await selectRows<{ revision: number; digest: string }>(
      o,
      "SELECT revision, digest FROM policy_revisions WHERE org_id = ? ORDER BY revision",
      [B],
    );
    const history = [...(await one.history(B))].reverse();
    const set = new Map<string, string>();
    for (const { revision, digest } of stored) {
      for (const h of history.filter((x) => x.revision === revision)) {
        const at = await one.get(B, h.name, revision);
        set.set(h.name, at?.document ?? "");
      }
      expect(digest).toBe(policySetDigest([...set].map(([name, document]) => ({ name, document }))));
    }
    expect(stored).toHaveLength(2 * N);
    expect((await changes(o)).filter((c) => c.org_id === B)).toHaveLength(2 * N);
  });
});
