import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, cliFlags, runTessera } from "../helpers/cli.js";
import { startTestServer, type TestServer, tempDir } from "../helpers/server.js";

// Run `npm run build` first: these tests start bin/tessera.js, which loads dist/.
const POLICIES = "examples/policies";
const TESTS = "examples/tests";
const GOVERNANCE = readFileSync(join(POLICIES, "governance.yaml"), "utf8");
const SUITE = readFileSync(join(TESTS, "governance-test.yaml"), "utf8");
/** The examples with a custom role misspelled, so the document does not compile. */
const BAD_GOVERNANCE = GOVERNANCE.replace("roles: [admin, auditor]", "roles: [admin, wizard]");

/** Where the parser must put the unknown role: the `roles` value of the changed line. */
function wizardPosition(): string {
  const lines = BAD_GOVERNANCE.split("\n");
  const i = lines.findIndex((l) => l.includes("wizard"));
  return `${i + 1}:${(lines[i] ?? "").indexOf("[") + 1}`;
}

/** A RouteMap sending GET /governance to the examples' governance:read. */
const ROUTEMAP = `apiVersion: tessera.dev/v1
kind: RouteMap
metadata: { name: governance-api }
spec:
  routes:
    - match: { method: GET, path: /governance }
      scope: governance:read
      resource: { kind: proposal }
`;
const HTTP_SUITE = `apiVersion: tessera.dev/v1
kind: PolicyTest
metadata: { name: http }
spec:
  cases:
    - name: a viewer reads through the route
      subject: { id: a, tier: verified, roles: [viewer] }
      http: { method: GET, path: /governance }
      expect: allow
    - name: no route
      subject: { id: a, tier: verified, roles: [viewer] }
      http: { method: POST, path: /governance }
      expect: deny
      reason: NO_ROUTE
`;

const lastLine = (out: string) => out.trimEnd().split("\n").at(-1);

let home: ReturnType<typeof tempDir>;
let work: ReturnType<typeof tempDir>;
beforeAll(() => {
  home = tempDir("tessera-policy-cli-home-");
  work = tempDir("tessera-policy-cli-");
});
afterAll(() => {
  home?.cleanup();
  work?.cleanup();
});

/** A fresh directory under the temp dir holding the given files. */
function dir(name: string, files: Record<string, string>): string {
  const path = join(work.dir, name);
  mkdirSync(path, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(path, file), text);
  return path;
}

const tessera = (...args: string[]) => runTessera(args, cliEnv(home.dir));

describe("tessera policy test and validate, with no server", () => {
  it("passes the examples: 8 passed, 0 failed, exit 0", async () => {
    const run = await tessera("policy", "test", "--policies", POLICIES, "--tests", TESTS);
    expect(run.code, run.stderr).toBe(0);
    expect(lastLine(run.stdout)).toBe("8 passed, 0 failed");
  });

  it("prints a failing case's suite, case and rule trace, 7 passed, 1 failed, exit 1", async () => {
    const failing = SUITE.replace(
      "scope: governance:read\n      expect: allow",
      "scope: governance:read\n      expect: deny",
    );
    expect(failing).not.toBe(SUITE);
    const tests = dir("failing", { "t.yaml": failing });
    const run = await tessera("policy", "test", "--policies", POLICIES, "--tests", tests);
    expect(run.code).toBe(1);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines.at(-1)).toBe("7 passed, 1 failed");
    expect(lines[0]).toContain("governance-tests");
    expect(lines[0]).toContain("an auditor inherits viewer");
    expect(lines[0]).toContain("by governance/read");
    // The trace: every candidate rule for governance:read and its outcome, the decider MATCHED.
    const trace = lines.slice(1, -1).map((l) => l.trim().split(/\s+/));
    expect(trace).toEqual([
      ["governance/read", "allow", "MATCHED"],
      ["governance/unverified-production", "deny", "CONDITION_FALSE"],
    ]);
  });

  it("exits 1 naming file:line:col and POLICY_INVALID when a policy does not compile", async () => {
    const policies = dir("bad-policy", { "governance.yaml": BAD_GOVERNANCE });
    const file = join(policies, "governance.yaml");
    const run = await tessera("policy", "test", "--policies", policies, "--tests", TESTS);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${file}:${wizardPosition()}`);
    expect(run.stderr).toContain("POLICY_INVALID");
    const json = await tessera("policy", "validate", policies, "--json");
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { reason: "POLICY_INVALID" } });
  });

  it("takes one path holding both kinds, in separate files or in one", async () => {
    const both = dir("both", { "policy.yaml": GOVERNANCE, "tests.yaml": SUITE });
    const separate = await tessera("policy", "test", both);
    expect(separate.code, separate.stderr).toBe(0);
    expect(lastLine(separate.stdout)).toBe("8 passed, 0 failed");
    const one = join(dir("one-file", { "all.yaml": `${GOVERNANCE}---\n${SUITE}` }), "all.yaml");
    const single = await tessera("policy", "test", one);
    expect(single.code, single.stderr).toBe(0);
    expect(lastLine(single.stdout)).toBe("8 passed, 0 failed");
  });

  it("validates the examples locally", async () => {
    const run = await tessera("policy", "validate", POLICIES, "--json");
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ valid: true, policies: ["governance"], rules: 6, routes: 0 });
  });

  it("validates and tests a RouteMap beside the Policies, http cases included", async () => {
    const both = dir("routemap", {
      "policy.yaml": GOVERNANCE,
      "routes.yaml": ROUTEMAP,
      "t.yaml": HTTP_SUITE,
    });
    const validate = await tessera("policy", "validate", both);
    expect(validate.code, validate.stderr).toBe(0);
    expect(validate.stdout.trim()).toBe("ok: 1 policies, 6 rules, 1 route maps, 1 routes");
    const run = await tessera("policy", "test", "--policies", both, "--tests", join(both, "t.yaml"));
    expect(run.code, run.stderr).toBe(0);
    expect(lastLine(run.stdout)).toBe("2 passed, 0 failed");
  });
});

describe("tessera policy against a running server", () => {
  let server: TestServer;
  let flags: string[];
  beforeAll(async () => {
    server = await startTestServer();
    flags = cliFlags(server);
  });
  afterAll(async () => {
    await server?.stop();
  });

  const remote = async (...args: string[]) => {
    const run = await tessera(...args, ...flags);
    return { ...run, json: () => JSON.parse(run.stdout) as Record<string, unknown> };
  };
  const check = () =>
    remote(
      "check",
      "--subject",
      "a",
      "--tier",
      "trusted",
      "--role",
      "operator",
      "--scope",
      "secrets:read",
      "--json",
    );

  it("applies, lists, decides, shows history, gets and deletes", async () => {
    const apply = await remote("policy", "apply", "-f", POLICIES, "--json");
    expect(apply.code, apply.stderr).toBe(0);
    expect(apply.json()).toMatchObject({ policies: ["governance"], revision: 2, added: ["governance"] });

    const list = await remote("policy", "list", "--json");
    expect(list.json()).toMatchObject({ revision: 2 });
    expect(list.json().policies).toEqual(
      expect.arrayContaining([{ name: "governance", kind: "Policy", revision: 2, rules: 6 }]),
    );

    const denied = await check();
    expect(denied.code).toBe(3);
    expect(denied.json()).toMatchObject({
      decision: "DENY",
      reason: "DENIED_BY_RULE",
      rule: "governance/secrets-need-privileged",
      policyRevision: 2,
    });

    const history = await remote("policy", "history", "--json");
    expect(history.code, history.stderr).toBe(0);
    expect((history.json().changes as unknown[])[0]).toMatchObject({
      revision: 2,
      name: "governance",
      action: "put",
    });

    const get = await remote("policy", "get", "governance", "--json");
    expect(get.code, get.stderr).toBe(0);
    expect(get.json()).toMatchObject({ name: "governance", revision: 2 });
    expect(get.json().document).toContain("secrets-need-privileged");

    const del = await remote("policy", "delete", "governance", "--yes", "--json");
    expect(del.code, del.stderr).toBe(0);
    expect(del.json()).toEqual({ revision: 3 });
    const after = await check();
    expect(after.json()).toMatchObject({
      decision: "DENY",
      reason: "NO_MATCHING_RULE",
      rule: "",
      policyRevision: 3,
    });
    const missing = await remote("policy", "get", "governance", "--json");
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stderr)).toMatchObject({
      error: { code: "NotFound", reason: "POLICY_NOT_FOUND" },
    });
  });

  it("applies nothing from a directory with one bad file", async () => {
    const before = (await remote("policy", "list", "--json")).json().revision;
    const mixed = dir("mixed", {
      "a-good.yaml": GOVERNANCE,
      "b-bad.yaml": BAD_GOVERNANCE.replace("name: governance", "name: other"),
    });
    const run = await remote("policy", "apply", "-f", mixed, "--json");
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stderr)).toMatchObject({ error: { reason: "POLICY_INVALID" } });
    const list = (await remote("policy", "list", "--json")).json();
    expect(list.revision).toBe(before);
    expect((list.policies as { name: string }[]).map((p) => p.name)).not.toContain("governance");
  });

  it("applies a RouteMap with the Policies; list shows each kind", async () => {
    const both = dir("apply-routemap", { "policy.yaml": GOVERNANCE, "routes.yaml": ROUTEMAP });
    const apply = await remote("policy", "apply", both, "--json");
    expect(apply.code, apply.stderr).toBe(0);
    expect(apply.json().policies).toEqual(["governance", "governance-api"]);
    const list = await remote("policy", "list");
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/governance-api {2}RouteMap {2}\(1 routes, since revision \d+\)/);
    expect(list.stdout).toMatch(/governance {2}Policy {2}\(6 rules, since revision \d+\)/);
  });
});
