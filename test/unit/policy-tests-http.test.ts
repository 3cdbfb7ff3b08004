import { describe, expect, it } from "vitest";
import { TesseraError } from "../../src/domain/errors.js";
import { parsePolicyDocuments } from "../../src/engine/document.js";
import { PolicyEngine } from "../../src/engine/engine.js";
import { parsePolicyTests, runPolicyTests } from "../../src/engine/policy-test.js";

/** A RouteMap beside a Policy whose conditions read what routing found. */
const POLICIES = `apiVersion: tessera.dev/v1
kind: RouteMap
metadata: { name: todo-api }
spec:
  hosts: ["todo.internal"]
  routes:
    - match: { method: GET, path: /todos }
      scope: todos:list
      resource: { kind: todo-list }
    - match: { methods: [PUT, DELETE], path: "/todos/{id}" }
      scope: todos:write
      resource: { kind: todo, id: "todo-{id}" }
  default: deny
---
apiVersion: tessera.dev/v1
kind: RouteMap
metadata: { name: open }
spec:
  hosts: ["open.internal"]
  routes: []
  default: allow
---
apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: p }
spec:
  rules:
    - name: list-open
      scopes: ["todos:list"]
      effect: allow
      condition: 'context.http.query.status == "open" && context.http.method == "GET"'
    - name: write-own
      scopes: ["todos:write"]
      resources: [todo]
      effect: allow
      condition: 'resource.id == "todo-" + principal.id && context.http.params.id == principal.id && resource.attr.locked == false'
`;

const suite = (cases: string) =>
  `apiVersion: tessera.dev/v1\nkind: PolicyTest\nmetadata: { name: s }\nspec:\n  cases:\n${cases}`;

const compiled = () => PolicyEngine.compile(1, parsePolicyDocuments(POLICIES, "p.yaml"));
const run = (tests: string) => runPolicyTests(compiled(), parsePolicyTests(tests, "t.yaml"), "org", 0);

describe("PolicyTest cases with an http request: routed, then decided", () => {
  it("routes, exposes query and params to conditions, and expects NO_ROUTE", () => {
    const report = run(
      suite(`    - name: list open todos
      subject: { id: a }
      http: { method: GET, path: "/todos?status=open", host: todo.internal }
      expect: allow
      rule: p/list-open
    - name: list done todos
      subject: { id: a }
      http: { method: GET, path: "/todos?status=done", host: todo.internal }
      expect: deny
      reason: NO_MATCHING_RULE
    - name: write one's own todo
      subject: { id: "7" }
      http: { method: DELETE, path: /todos/7, host: todo.internal }
      resource: { attr: { locked: false } }
      expect: allow
      rule: p/write-own
    - name: write another's todo
      subject: { id: "8" }
      http: { method: PUT, path: /todos/7, host: todo.internal }
      resource: { attr: { locked: false } }
      expect: deny
    - name: no route, default deny
      subject: { id: a }
      http: { method: POST, path: /todos, host: todo.internal }
      expect: deny
      reason: NO_ROUTE
    - name: no route, default allow
      subject: { id: a }
      http: { method: GET, path: /anything, host: open.internal }
      expect: allow
      reason: NO_ROUTE
    - name: a .. path is denied even where the default allows
      subject: { id: a }
      http: { method: GET, path: /a/../b, host: open.internal }
      expect: deny
      reason: NO_ROUTE
`),
    );
    expect(report).toEqual({ passed: 7, failed: 0, failures: [] });
  });

  it("reports a failing http case with the routed decision", () => {
    const report = run(
      suite(`    - name: expects a route
      subject: { id: a }
      http: { method: POST, path: /todos, host: todo.internal }
      expect: allow
`),
    );
    expect(report.failures).toMatchObject([
      { case: "expects a route", actual: "deny", reason: "NO_ROUTE", rule: "" },
    ]);
  });

  it.each([
    ["scope and http both", "      scope: todos:list\n      http: { method: GET, path: /todos }\n"],
    ["http without a path", "      http: { method: GET }\n"],
    ["an unknown http field", "      http: { method: GET, path: /todos, port: 80 }\n"],
    [
      "a resource kind with http",
      "      http: { method: GET, path: /todos }\n      resource: { kind: todo }\n",
    ],
  ])("refuses %s with POLICY_INVALID", (_name, lines) => {
    const text = suite(`    - name: c\n      subject: { id: a }\n${lines}      expect: allow\n`);
    let err: unknown;
    try {
      parsePolicyTests(text, "t.yaml");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TesseraError);
    expect((err as TesseraError).reason).toBe("POLICY_INVALID");
    expect((err as TesseraError).details).toMatchObject({ file: "t.yaml", line: expect.any(String) });
  });

  it("skips RouteMap documents in a tests text", () => {
    expect(parsePolicyTests(POLICIES, "p.yaml")).toEqual([]);
  });
});

describe("PolicyEngine.decideHttp: route, then decide (what ext_authz calls)", () => {
  const engine = new PolicyEngine();
  engine.install("org", 4, parsePolicyDocuments(POLICIES, "p.yaml"));
  const subject = { id: "7", tier: "verified" as const, roles: [], tags: [], attr: {} };

  it("decides the routed scope and resource, with context.http", () => {
    const r = engine.decideHttp("org", {
      subject,
      http: { method: "DELETE", host: "todo.internal", path: "/todos/7?force=1" },
      resourceAttr: { locked: false },
    });
    expect(r.decision).toEqual({ allow: true, reason: "ALLOWED_BY_RULE", rule: "p/write-own", revision: 4 });
    expect(r.route).toMatchObject({ scope: "todos:write", resource: { kind: "todo", id: "todo-7" } });
  });

  it("answers NO_ROUTE with the maps' default", () => {
    const deny = engine.decideHttp("org", {
      subject,
      http: { method: "GET", host: "todo.internal", path: "/x" },
    });
    expect(deny.decision).toEqual({ allow: false, reason: "NO_ROUTE", rule: "", revision: 4 });
    const allow = engine.decideHttp("org", {
      subject,
      http: { method: "GET", host: "open.internal", path: "/x" },
    });
    expect(allow.decision).toEqual({ allow: true, reason: "NO_ROUTE", rule: "", revision: 4 });
  });
});
