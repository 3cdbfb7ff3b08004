import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createOrg } from "../../src/core/bootstrap.js";
import { startSync } from "../../src/core/sync.js";
import { buildTessera, type Tessera } from "../../src/core/tessera.js";
import { policySetDigest } from "../../src/store/policy-digest.js";
import { openStore, type Store } from "../../src/store/store.js";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera, TEST_SETTINGS } from "../helpers/in-memory.js";
import { tempDir } from "../helpers/server.js";

const MAP = (scope = "todos:list") => `apiVersion: tessera.dev/v1
kind: RouteMap
metadata: { name: todo-api }
spec:
  hosts: ["todo.internal", "*.todo.internal"]
  routes:
    - match: { method: GET, path: /todos }
      scope: ${scope}
      resource: { kind: todo-list }
    - match: { methods: [PUT, DELETE], path: "/todos/{id}" }
      scope: todos:write
      resource: { kind: todo, id: "{id}" }
  default: deny
`;
const POLICY = `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: todos }
spec:
  rules:
    - name: list
      scopes: ["todos:list"]
      effect: allow
`;
const MIXED = `${MAP()}---\n${POLICY}`;
const GET_TODOS = { method: "GET", host: "todo.internal", path: "/todos?x=1" };

describe("RouteMaps stored, versioned and tested like Policies (in-memory transport)", () => {
  let t: InMemoryTessera;
  let admin: { headers: Record<string, string> };
  beforeEach(async () => {
    t = await inMemoryTessera();
    admin = { headers: t.adminHeaders };
  });
  afterEach(() => t.close());
  const writes = () => (t.store.db.prepare("SELECT total_changes() AS n").get() as { n: number }).n;

  it("a mixed text is one revision: listed with kinds, got back, in history, and routed", async () => {
    const put = await t.admin.putPolicy({ document: MIXED, file: "todo.yaml" }, admin);
    expect(put).toMatchObject({ names: ["todo-api", "todos"], revision: 2n, added: ["todo-api", "todos"] });
    const list = await t.admin.listPolicies({}, admin);
    expect(list.policies.map((p) => [p.name, p.kind, p.revision, p.ruleCount])).toEqual([
      ["example", "Policy", 1n, 4],
      ["todo-api", "RouteMap", 2n, 2],
      ["todos", "Policy", 2n, 1],
    ]);
    const got = await t.admin.getPolicy({ name: "todo-api" }, admin);
    expect(got.document).toBe(MAP());
    const orgId = t.org.orgId;
    const routed = t.tessera.engine.route(orgId, GET_TODOS);
    expect(routed).toMatchObject({
      scope: "todos:list",
      resource: { kind: "todo-list", id: "" },
      query: { x: "1" },
    });
    // The revision's digest covers the RouteMap: it is one of the stored documents.
    const state = t.store.policies.state(orgId);
    expect(state.digest).toBe(policySetDigest(t.store.policies.named(orgId)));
    expect(t.tessera.engine.current(orgId).digest).toBe(state.digest);

    const changed = await t.admin.putPolicy({ document: MAP("todos:read") }, admin);
    expect(changed).toMatchObject({ revision: 3n, changed: ["todo-api"] });
    expect(t.store.policies.state(orgId).digest).not.toBe(state.digest);
    expect(t.tessera.engine.route(orgId, GET_TODOS)).toMatchObject({ scope: "todos:read" });
    expect((await t.admin.getPolicy({ name: "todo-api", revision: 2n }, admin)).document).toBe(MAP());

    expect((await t.admin.deletePolicy({ name: "todo-api" }, admin)).revision).toBe(4n);
    expect(t.tessera.engine.route(orgId, GET_TODOS)).toMatchObject({ noRoute: true, default: "deny" });
    const history = await t.admin.policyHistory({ name: "todo-api" }, admin);
    expect(history.changes.map((c) => [c.revision, c.action])).toEqual([
      [4n, "delete"],
      [3n, "put"],
      [2n, "put"],
    ]);
  });

  it("validates a RouteMap without writing", async () => {
    const before = writes();
    const v = await t.admin.validatePolicy({ document: MIXED }, admin);
    expect(v.names).toEqual(["todo-api", "todos"]);
    expect(writes()).toBe(before);
  });

  it("refuses an invalid RouteMap whole, naming file and line, writing nothing", async () => {
    const before = writes();
    const bad = MIXED.replace('path: "/todos/{id}"', 'path: "/todos/x{id}"');
    const f = await failure(t.admin.putPolicy({ document: bad, file: "todo.yaml" }, admin));
    expect(f).toMatchObject({ code: Code.InvalidArgument, reason: "POLICY_INVALID" });
    expect(f.metadata).toMatchObject({ file: "todo.yaml", line: "10", column: "46" });
    expect(writes()).toBe(before);
    expect((await t.admin.listPolicies({}, admin)).revision).toBe(1n);
  });

  it("refuses a route that overlaps a stored RouteMap's, writing nothing", async () => {
    await t.admin.putPolicy({ document: MAP() }, admin);
    const before = writes();
    const other = MAP()
      .replace("todo-api", "other")
      .replace('["todo.internal", "*.todo.internal"]', '["a.todo.internal"]');
    const f = await failure(t.admin.putPolicy({ document: other, file: "other.yaml" }, admin));
    expect(f).toMatchObject({ code: Code.InvalidArgument, reason: "POLICY_INVALID" });
    expect(f.metadata).toMatchObject({ file: "other.yaml", line: "7" });
    expect(writes()).toBe(before);
  });

  it("TestPolicy routes http cases against a candidate RouteMap, applying nothing", async () => {
    const tests = `apiVersion: tessera.dev/v1
kind: PolicyTest
metadata: { name: http }
spec:
  cases:
    - name: list
      subject: { id: a }
      http: { method: GET, path: /todos, host: todo.internal }
      expect: allow
      rule: todos/list
    - name: no route
      subject: { id: a }
      http: { method: POST, path: /todos, host: todo.internal }
      expect: deny
      reason: NO_ROUTE
`;
    const before = writes();
    const r = await t.admin.testPolicy({ tests, candidate: MIXED }, admin);
    expect(r).toMatchObject({ passed: 2, failed: 0 });
    expect(writes()).toBe(before);
    // Against the stored set (no RouteMap), the routed case finds no route.
    const stored = await t.admin.testPolicy({ tests }, admin);
    expect(stored).toMatchObject({ passed: 1, failed: 1 });
    expect(stored.failures[0]).toMatchObject({ case: "list", reason: "NO_ROUTE" });
  });
});

describe("a RouteMap put through one process is routed by another on the same SQLite file", () => {
  let tmp: ReturnType<typeof tempDir>;
  const opened: Store[] = [];
  afterEach(() => {
    for (const s of opened.splice(0)) s.close();
    tmp.cleanup();
  });

  it("through the existing policy sync", async () => {
    tmp = tempDir();
    const open = async (): Promise<{ store: Store; t: Tessera }> => {
      const store = openStore(tmp.dir);
      opened.push(store);
      return { store, t: await buildTessera(store, { ...TEST_SETTINGS, decisionLog: false }) };
    };
    const a = await open();
    const b = await open();
    const orgId = (await createOrg(a.store, "shared", new Date())).orgId;
    const stop = startSync(
      b.store,
      { engine: b.t.engine, credentials: b.t.credentials },
      { intervalMs: 5 },
    ).stop;
    try {
      expect(b.t.engine.route(orgId, GET_TODOS)).toMatchObject({ noRoute: true });
      await a.t.policies.put(orgId, MIXED);
      const digest = a.store.policies.state(orgId).digest;
      const deadline = Date.now() + 5000;
      while (b.t.engine.current(orgId).digest !== digest && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 10));
      expect(b.t.engine.current(orgId).digest).toBe(digest);
      expect(b.t.engine.route(orgId, GET_TODOS)).toMatchObject({ routeMap: "todo-api", scope: "todos:list" });
    } finally {
      stop();
    }
  });
});
