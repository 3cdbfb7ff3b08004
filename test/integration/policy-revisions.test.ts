import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createOrg } from "../../src/core/bootstrap.js";
import { verifyPolicies } from "../../src/core/policy-sync.js";
import { startSync } from "../../src/core/sync.js";
import { buildTessera, type Tessera } from "../../src/core/tessera.js";
import { PolicyEngine, parseStored } from "../../src/engine/engine.js";
import type { AuthzQuery } from "../../src/engine/types.js";
import { openStore, type Store } from "../../src/store/store.js";
import { TEST_SETTINGS } from "../helpers/in-memory.js";
import { tempDir } from "../helpers/server.js";

/** A document `name` whose one rule allows scope `<name>:read`. */
const doc = (name: string) => `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: ${name} }
spec:
  rules:
    - { name: r, scopes: ["${name}:read"], effect: allow }
`;

const ask = (scope: string): AuthzQuery => ({
  subject: { id: "s", tier: "verified", roles: [], tags: [], attr: {} },
  scope,
});

/** Two server processes over one data directory: each its own connection, core and engine. */
interface Core {
  readonly store: Store;
  readonly t: Tessera;
}

describe("every process compiles revision N from exactly the documents stored as N (issue #9, finding 7)", () => {
  let tmp: ReturnType<typeof tempDir>;
  let a: Core;
  let b: Core;
  let orgId = "";
  const open = async (): Promise<Core> => {
    const store = openStore(tmp.dir);
    return { store, t: await buildTessera(store, { ...TEST_SETTINGS, decisionLog: false }) };
  };
  beforeEach(async () => {
    tmp = tempDir();
    a = await open();
    b = await open();
    orgId = (await createOrg(a.store, "shared", new Date())).orgId;
  });
  afterEach(() => {
    a.store.close();
    b.store.close();
    tmp.cleanup();
  });

  /** What each process decides for every document's scope, with the revision it decided at. */
  const decisions = (c: Core, names: readonly string[]) =>
    names.map((n) => {
      const d = c.t.engine.decide(orgId, ask(`${n}:read`));
      return `${n}:${d.allow}@${d.revision}`;
    });

  it("a put through a process that has not seen the other's put still builds on it", async () => {
    await a.t.policies.put(orgId, doc("one"));
    // b's engine still holds revision 0: before the fix it compiled revision 2 without "one",
    // and its sync, seeing revision 2 in force, never looked again.
    const put = await b.t.policies.put(orgId, doc("two"));
    expect(put.revision).toBe(2);
    expect(decisions(b, ["one", "two"])).toEqual(["one:true@2", "two:true@2"]);
    expect(b.t.engine.current(orgId).digest).toBe(b.store.policies.state(orgId).digest);
  });

  it("concurrent puts and deletes through both processes end with both deciding the same", async () => {
    const names = ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"];
    await Promise.all(names.map((n, i) => (i % 2 === 0 ? a : b).t.policies.put(orgId, doc(n))));
    await b.t.policies.delete(orgId, "p3");
    await a.t.policies.delete(orgId, "p6");
    const stopA = startSync(
      a.store,
      { engine: a.t.engine, credentials: a.t.credentials },
      { intervalMs: 5 },
    ).stop;
    const stopB = startSync(
      b.store,
      { engine: b.t.engine, credentials: b.t.credentials },
      { intervalMs: 5 },
    ).stop;
    try {
      const stored = a.store.policies.state(orgId);
      expect(stored.revision).toBe(10);
      const deadline = Date.now() + 5000;
      while ([a, b].some((c) => c.t.engine.current(orgId).digest !== stored.digest) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 10));
      const want = names.map((n) => `${n}:${n !== "p3" && n !== "p6"}@10`);
      expect(decisions(a, names)).toEqual(want);
      expect(decisions(b, names)).toEqual(want);
    } finally {
      stopA();
      stopB();
    }
  });

  it("a process that compiled a revision from other documents repairs itself on the periodic check", async () => {
    await a.t.policies.put(orgId, doc("one"));
    await a.t.policies.put(orgId, doc("two"));
    await verifyPolicies(b.store.policies, b.t.engine);
    expect(decisions(b, ["one", "two"])).toEqual(["one:true@2", "two:true@2"]);
    // What a stale process used to hold: revision 2 compiled without "one".
    b.t.engine.installCompiled(orgId, PolicyEngine.compile(2, parseStored(orgId, [doc("two")]), "stale"));
    expect(decisions(b, ["one", "two"])).toEqual(["one:false@2", "two:true@2"]);
    expect(await verifyPolicies(b.store.policies, b.t.engine)).toBe(1);
    expect(decisions(b, ["one", "two"])).toEqual(["one:true@2", "two:true@2"]);
    // In step, the check costs one query and recompiles nothing.
    expect(await verifyPolicies(b.store.policies, b.t.engine)).toBe(0);
  });

  it("stores each revision's digest, and a refused put writes nothing", async () => {
    await a.t.policies.put(orgId, doc("one"));
    const before = a.store.policies.state(orgId);
    await expect(b.t.policies.put(orgId, doc("Bad Name"))).rejects.toMatchObject({
      reason: "POLICY_INVALID",
    });
    expect(a.store.policies.state(orgId)).toEqual(before);
    const rows = a.store.db.prepare("SELECT revision FROM policy_revisions WHERE org_id = ?").all(orgId);
    expect(rows).toEqual([{ revision: 1 }]);
  });
});
