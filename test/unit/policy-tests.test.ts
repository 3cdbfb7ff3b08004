import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { TesseraError } from "../../src/domain/errors.js";
import { parsePolicyDocuments } from "../../src/engine/document.js";
import { PolicyEngine } from "../../src/engine/engine.js";
import { parsePolicyTests, runPolicyTests } from "../../src/engine/policy-test.js";

const POLICY = `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: p }
spec:
  rules:
    - name: read
      scopes: ["docs:read"]
      effect: allow
      roles: [viewer]
    - name: no-drafts
      scopes: ["docs:read"]
      effect: deny
      condition: 'has(resource.attr.state) && resource.attr.state == "draft"'
    - name: window
      scopes: ["docs:publish"]
      effect: allow
      condition: 'now < timestamp("2024-06-01T00:00:00Z") && "editor" in principal.tags && context.ok'
`;

/** A PolicyTest suite `s` with the given case lines (each case starts at line 7). */
const suite = (cases: string) =>
  `apiVersion: tessera.dev/v1\nkind: PolicyTest\nmetadata: { name: s }\nspec:\n  cases:\n${cases}`;

const PASSING = suite(`    - name: a viewer reads
      subject: { id: a, tier: verified, roles: [viewer] }
      scope: docs:read
      resource: { kind: doc, id: d1, attr: { state: final } }
      expect: allow
      rule: p/read
      reason: ALLOWED_BY_RULE
    - name: drafts are denied
      subject: { id: a, roles: [admin] }
      scope: docs:read
      resource: { kind: doc, id: d1, attr: { state: draft } }
      expect: deny
      rule: p/no-drafts
    - name: publish inside the window, with tags and context
      subject: { id: a, tags: [editor] }
      scope: docs:publish
      context: { ok: true }
      now: 2024-05-01T00:00:00Z
      expect: allow
    - name: publish after the window
      subject: { id: a, tags: [editor] }
      scope: docs:publish
      context: { ok: true }
      now: 2024-07-01T00:00:00Z
      expect: deny
      reason: NO_MATCHING_RULE
    - name: a scope outside the grant
      subject: { id: a, roles: [viewer], scopes: ["docs:list"] }
      scope: docs:read
      expect: deny
      reason: SCOPE_NOT_GRANTED
`);

const compiled = () => PolicyEngine.compile(3, parsePolicyDocuments(POLICY, "p.yaml"));
const NOW = Date.parse("2024-01-01T00:00:00Z");
const run = (tests: string) => runPolicyTests(compiled(), parsePolicyTests(tests, "t.yaml"), "org", NOW);

function thrown(fn: () => unknown): TesseraError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TesseraError);
    return err as TesseraError;
  }
  throw new Error("expected a TesseraError, but nothing was thrown");
}

describe("runPolicyTests", () => {
  it("passes a suite whose every case gets what it expects", () => {
    const suites = parsePolicyTests(PASSING, "t.yaml");
    expect(suites.map((s) => [s.name, s.file, s.cases.length])).toEqual([["s", "t.yaml", 5]]);
    expect(run(PASSING)).toEqual({ passed: 5, failed: 0, failures: [] });
  });

  it("fails a case on a wrong decision, a wrong rule or a wrong reason", () => {
    const report = run(
      suite(`    - name: wrong decision
      subject: { id: a, roles: [viewer] }
      scope: docs:read
      resource: { kind: doc, id: d1, attr: { state: final } }
      expect: deny
    - name: wrong rule
      subject: { id: a, roles: [viewer] }
      scope: docs:read
      resource: { kind: doc, id: d1, attr: { state: draft } }
      expect: deny
      rule: p/read
    - name: wrong reason
      subject: { id: a, roles: [] }
      scope: docs:read
      expect: deny
      reason: DENIED_BY_RULE
    - name: right
      subject: { id: a, roles: [] }
      scope: docs:read
      expect: deny
`),
    );
    expect(report).toMatchObject({ passed: 1, failed: 3 });
    expect(report.failures).toMatchObject([
      { suite: "s", case: "wrong decision", actual: "allow", rule: "p/read", reason: "ALLOWED_BY_RULE" },
      { suite: "s", case: "wrong rule", actual: "deny", rule: "p/no-drafts", reason: "DENIED_BY_RULE" },
      { suite: "s", case: "wrong reason", actual: "deny", rule: "", reason: "NO_MATCHING_RULE" },
    ]);
    expect(report.failures.map((f) => f.expected.split(" ")[0])).toEqual(["deny", "deny", "deny"]);
    expect(report.failures[1]?.expected).toContain("p/read");
    expect(report.failures[2]?.expected).toContain("DENIED_BY_RULE");
  });

  it("skips Policy documents in the same text", () => {
    const suites = parsePolicyTests(`${POLICY}---\n${PASSING}`, "both.yaml");
    expect(suites.map((s) => s.name)).toEqual(["s"]);
    expect(parsePolicyTests(POLICY, "only-policy.yaml")).toEqual([]);
  });

  it("passes the examples: examples/tests against examples/policies, 8 of 8", () => {
    const read = (p: string) => readFileSync(new URL(`../../examples/${p}`, import.meta.url), "utf8");
    const docs = parsePolicyDocuments(read("policies/governance.yaml"), "governance.yaml");
    const suites = parsePolicyTests(read("tests/governance-test.yaml"), "governance-test.yaml");
    expect(runPolicyTests(PolicyEngine.compile(1, docs), suites, "org", NOW)).toEqual({
      passed: 8,
      failed: 0,
      failures: [],
    });
  });
});

describe("parsePolicyTests rejects invalid suites with POLICY_INVALID and a position", () => {
  const CASE =
    "    - name: c\n      subject: { id: a, tier: verified }\n      scope: docs:read\n      expect: allow\n";
  it.each([
    ["an unknown case field", `${CASE}      bogus: 1\n`, 10, 14],
    ["an unknown subject field", CASE.replace("tier: verified", "tier: verified, org: x"), 7, 16],
    ["a bad tier", CASE.replace("verified", "godlike"), 7, 16],
    ["a bad scope", CASE.replace("docs:read", "docs read"), 8, 14],
    ["a wildcard scope", CASE.replace("docs:read", '"docs:*"'), 8, 14],
    ["a bad expect", CASE.replace("expect: allow", "expect: maybe"), 9, 15],
    ["a bad now", `${CASE}      now: yesterday\n`, 10, 12],
    ["a case that is not a mapping", "    - just a string\n", 6, 7],
  ])("%s", (_name, cases, line, column) => {
    const err = thrown(() => parsePolicyTests(suite(cases), "t.yaml"));
    expect(err.reason).toBe("POLICY_INVALID");
    expect(err.details).toMatchObject({ file: "t.yaml", line: String(line), column: String(column) });
  });

  it("a case without expect", () => {
    // The position is not asserted: src/engine/policy-test.ts locates a missing key at nothing.
    const err = thrown(() => parsePolicyTests(suite(CASE.replace("      expect: allow\n", "")), "t.yaml"));
    expect(err.reason).toBe("POLICY_INVALID");
    expect(err.details).toMatchObject({ file: "t.yaml" });
  });

  it("a document of another kind", () => {
    const err = thrown(() => parsePolicyTests(suite(CASE).replace("PolicyTest", "Quiz"), "t.yaml"));
    expect(err.details).toMatchObject({ file: "t.yaml", line: "1", column: "1" });
  });
});
