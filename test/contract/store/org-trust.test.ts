import { expect, it } from "vitest";
import type { Async } from "../../../src/store/contract/async.js";
import { OrgTrustRepository, type TrustRow } from "../../../src/store/org-trust.js";
import { PgOrgTrustRepository } from "../../../src/store/postgres/org-trust.js";
import { describeBackends, type Opened, seedOrg } from "./backends.js";
import { auditRows, changeRows, outcome, race, rejection, twoReplicas } from "./replicas.js";

function trusts(o: Opened): Async<OrgTrustRepository> {
  return o.kind === "sqlite" ? new OrgTrustRepository(o.db) : new PgOrgTrustRepository(o.db);
}

const row = (
  orgId: string,
  trustedOrgId: string,
  createdAt = 1_700_000_100,
  actor = "admin:key_1",
): TrustRow => ({
  orgId,
  trustedOrgId,
  createdAt,
  actor,
});

async function seedOrgs(o: Opened): Promise<void> {
  for (const id of ["org_a", "org_b", "org_c"]) await seedOrg(o, id);
}

describeBackends("org trust repository", (opened) => {
  it("inserts a trust once, answers the first row when trusted again, and lists them", async () => {
    const o = opened();
    await seedOrgs(o);
    const repo = trusts(o);
    expect(await repo.insert(row("org_a", "org_c", 200))).toEqual(row("org_a", "org_c", 200));
    expect(await repo.insert(row("org_a", "org_b", 100))).toEqual(row("org_a", "org_b", 100));
    expect(await repo.insert(row("org_b", "org_a", 300, "user:u1"))).toEqual(
      row("org_b", "org_a", 300, "user:u1"),
    );
    // Trusting again changes nothing and answers the first row.
    expect(await repo.insert(row("org_a", "org_b", 999, "api_key:other"))).toEqual(
      row("org_a", "org_b", 100),
    );

    expect(await repo.trustedBy("org_a")).toEqual([row("org_a", "org_b", 100), row("org_a", "org_c", 200)]);
    expect(await repo.trustedBy("org_c")).toEqual([]);
    const all = await repo.all();
    expect(all).toHaveLength(3);
    expect(all).toContainEqual(row("org_b", "org_a", 300, "user:u1"));

    expect(await changeRows(o)).toEqual([
      ["trust", "org_a", "org_c"],
      ["trust", "org_a", "org_b"],
      ["trust", "org_b", "org_a"],
    ]);
    const audits = await auditRows(o);
    expect(audits).toHaveLength(3);
    expect(audits[0]).toEqual({
      orgId: "org_a",
      action: "org_trust.add",
      targetKind: "org",
      targetId: "org_c",
      before: { trusted: false },
      after: { trusted: true },
    });
  });

  it("answers undefined for a trusted org that does not exist, and refuses an org trusting itself", async () => {
    const o = opened();
    await seedOrgs(o);
    const repo = trusts(o);
    expect(await repo.insert(row("org_a", "org_missing"))).toBeUndefined();
    expect(await rejection(() => repo.insert(row("org_a", "org_a")))).toBeInstanceOf(Error);
    expect(await repo.all()).toEqual([]);
    expect(await changeRows(o)).toEqual([]);
    expect(await auditRows(o)).toEqual([]);
  });

  it("deletes a trust once", async () => {
    const o = opened();
    await seedOrgs(o);
    const repo = trusts(o);
    await repo.insert(row("org_a", "org_b"));
    expect(await repo.delete("org_b", "org_a")).toBe(false);
    expect(await repo.delete("org_a", "org_b")).toBe(true);
    expect(await repo.delete("org_a", "org_b")).toBe(false);
    expect(await repo.trustedBy("org_a")).toEqual([]);
    expect(await changeRows(o)).toEqual([
      ["trust", "org_a", "org_b"],
      ["trust", "org_a", "org_b"],
    ]);
    expect((await auditRows(o))[1]).toEqual({
      orgId: "org_a",
      action: "org_trust.remove",
      targetKind: "org",
      targetId: "org_b",
      before: { trusted: true },
      after: { trusted: false },
    });
  });

  it("two replicas making the same trust at once: one row, one change, both answered the row", async () => {
    const o = opened();
    await seedOrgs(o);
    const { a, b, close } = await twoReplicas(o);
    try {
      const [ra, rb] = await race(
        () => trusts(a).insert(row("org_a", "org_b", 100, "admin:one")),
        () => trusts(b).insert(row("org_a", "org_b", 200, "admin:two")),
      );
      const stored = await trusts(o).trustedBy("org_a");
      expect(stored).toHaveLength(1);
      expect(outcome(ra)).toEqual(stored[0]);
      expect(outcome(rb)).toEqual(stored[0]);
      expect(await changeRows(o)).toEqual([["trust", "org_a", "org_b"]]);
      expect(await auditRows(o)).toHaveLength(1);
    } finally {
      await close();
    }
  });

  it("two replicas ending the same trust at once: one ends it, the other finds none", async () => {
    const o = opened();
    await seedOrgs(o);
    await trusts(o).insert(row("org_a", "org_b"));
    const { a, b, close } = await twoReplicas(o);
    try {
      const [ra, rb] = await race(
        () => trusts(a).delete("org_a", "org_b"),
        () => trusts(b).delete("org_a", "org_b"),
      );
      expect([outcome(ra), outcome(rb)].sort()).toEqual([false, true]);
      expect(await changeRows(o)).toHaveLength(2);
    } finally {
      await close();
    }
  });
});
