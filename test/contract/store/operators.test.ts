import { createHash } from "node:crypto";
import { expect, it } from "vitest";
import type { Async } from "../../../src/store/contract/async.js";
import { OperatorRepository, type OperatorTokenRow } from "../../../src/store/operators.js";
import { PgOperatorRepository } from "../../../src/store/postgres/operators.js";
import { describeBackends, insertRows, type Opened, selectRows } from "./backends.js";
import {
  auditRows,
  changeRows,
  isUniqueViolation,
  outcome,
  race,
  rejection,
  twoReplicas,
} from "./replicas.js";

function operators(o: Opened): Async<OperatorRepository> {
  return o.kind === "sqlite" ? new OperatorRepository(o.db) : new PgOperatorRepository(o.db);
}

const digest = (secret: string) => createHash("sha256").update(secret).digest();

const tokenRow = (id: string, createdAt: number): OperatorTokenRow => ({
  id,
  name: `name ${id}`,
  digest: digest(id),
  prefix: "tso_AbCd",
  createdAt,
});

describeBackends("operator repository", (opened) => {
  it("inserts tokens, finds live ones by digest and lists all oldest first", async () => {
    const o = opened();
    const repo = operators(o);
    await repo.insertToken(tokenRow("opt_b", 200));
    await repo.insertToken(tokenRow("opt_a", 200));
    await repo.insertToken(tokenRow("opt_c", 100));
    const found = await repo.findToken(digest("opt_a"));
    expect(found).toEqual({ ...tokenRow("opt_a", 200), revokedAt: undefined });
    expect(Buffer.isBuffer(found?.digest)).toBe(true);
    expect(await repo.findToken(digest("nope"))).toBeUndefined();
    expect((await repo.tokens()).map((t) => t.id)).toEqual(["opt_c", "opt_a", "opt_b"]);
    // Operator tokens are no admin change: nothing in the change log or the audit trail.
    expect(await changeRows(o)).toEqual([]);
    expect(await auditRows(o)).toEqual([]);
  });

  it("refuses a token with an id or digest already stored", async () => {
    const o = opened();
    const repo = operators(o);
    await repo.insertToken(tokenRow("opt_a", 100));
    expect(isUniqueViolation(await rejection(() => repo.insertToken(tokenRow("opt_a", 200))))).toBe(true);
    expect(
      isUniqueViolation(
        await rejection(() => repo.insertToken({ ...tokenRow("opt_b", 200), digest: digest("opt_a") })),
      ),
    ).toBe(true);
    expect((await repo.tokens()).map((t) => [t.id, t.createdAt])).toEqual([["opt_a", 100]]);
  });

  it("revokes a live token once", async () => {
    const o = opened();
    const repo = operators(o);
    await repo.insertToken(tokenRow("opt_a", 100));
    expect(await repo.revokeToken("opt_missing", 150)).toBe(false);
    expect(await repo.revokeToken("opt_a", 150)).toBe(true);
    expect(await repo.revokeToken("opt_a", 160)).toBe(false);
    expect(await repo.findToken(digest("opt_a"))).toBeUndefined();
    expect(await repo.tokens()).toEqual([{ ...tokenRow("opt_a", 100), revokedAt: 150 }]);
  });

  it("spends an action until the window's budget is used, then names when the next may be made", async () => {
    const o = opened();
    const repo = operators(o);
    expect(await repo.spend("org.create", "operator:a", 1000, 60, 2)).toBeUndefined();
    expect(await repo.spend("org.create", "operator:b", 1010, 60, 2)).toBeUndefined();
    // The oldest in the window (1000) leaves it at 1060.
    expect(await repo.spend("org.create", "operator:a", 1020, 60, 2)).toBe(1060);
    // Another action has its own budget.
    expect(await repo.spend("keys.rotate", "operator:a", 1020, 60, 2)).toBeUndefined();
    // Once 1000 is out of the window, one more fits.
    expect(await repo.spend("org.create", "operator:a", 1060, 60, 2)).toBeUndefined();
    expect(await repo.spend("org.create", "operator:a", 1061, 60, 2)).toBe(1070);
    const rows = await selectRows<{ action: string; actor: string; at: number }>(
      o,
      "SELECT action, actor, at FROM operator_actions ORDER BY seq",
    );
    expect(rows).toEqual([
      { action: "org.create", actor: "operator:a", at: 1000 },
      { action: "org.create", actor: "operator:b", at: 1010 },
      { action: "keys.rotate", actor: "operator:a", at: 1020 },
      { action: "org.create", actor: "operator:a", at: 1060 },
    ]);
  });

  it("lists every org oldest first", async () => {
    const o = opened();
    await insertRows(o, "orgs", [
      { id: "org_b", name: "B", policy_revision: 3, created_at: 200 },
      { id: "org_a", name: "A", policy_revision: 0, created_at: 200 },
      { id: "org_c", name: "C", policy_revision: 1, created_at: 100 },
    ]);
    expect(await operators(o).orgs()).toEqual([
      { id: "org_c", name: "C", policyRevision: 1, createdAt: 100 },
      { id: "org_a", name: "A", policyRevision: 0, createdAt: 200 },
      { id: "org_b", name: "B", policyRevision: 3, createdAt: 200 },
    ]);
  });

  it("two replicas spending the last of a budget at once: one is counted, the other refused", async () => {
    const o = opened();
    await operators(o).spend("org.create", "operator:a", 1000, 60, 2);
    const { a, b, close } = await twoReplicas(o);
    try {
      const [ra, rb] = await race(
        () => operators(a).spend("org.create", "operator:a", 1001, 60, 2),
        () => operators(b).spend("org.create", "operator:b", 1001, 60, 2),
      );
      expect([outcome(ra), outcome(rb)].sort()).toEqual([1060, "ok"]);
      expect(await selectRows(o, "SELECT seq FROM operator_actions")).toHaveLength(2);
    } finally {
      await close();
    }
  });

  it("two replicas revoking the same token at once: one revokes, the other finds none", async () => {
    const o = opened();
    await operators(o).insertToken(tokenRow("opt_a", 100));
    const { a, b, close } = await twoReplicas(o);
    try {
      const [ra, rb] = await race(
        () => operators(a).revokeToken("opt_a", 150),
        () => operators(b).revokeToken("opt_a", 151),
      );
      expect([outcome(ra), outcome(rb)].sort()).toEqual([false, true]);
    } finally {
      await close();
    }
  });
});
