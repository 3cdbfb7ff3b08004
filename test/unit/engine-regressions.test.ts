import { describe, expect, it } from "vitest";
import { TesseraError } from "../../src/domain/errors.js";
import { parsePolicyDocuments } from "../../src/engine/document.js";
import { PolicyEngine } from "../../src/engine/engine.js";
import { parsePolicyTests } from "../../src/engine/policy-test.js";

const doc = (rules: string, extra = "") => `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: p${extra} }
spec:
  rules:
${rules}`;

function refusal(fn: () => unknown): TesseraError {
  try {
    fn();
  } catch (err) {
    if (err instanceof TesseraError) return err;
    throw err;
  }
  throw new Error("expected a refusal");
}

describe("engine regressions", () => {
  it("explains (and evaluates) a rule once however many buckets hold it", () => {
    const engine = new PolicyEngine();
    engine.install(
      "o",
      1,
      parsePolicyDocuments(
        doc(`    - { name: kinds, scopes: ["a:b"], resources: [tool, plugin], effect: allow }
    - { name: multi, scopes: ["a:*", "*:b"], effect: allow }`),
      ),
    );
    const d = engine.decide("o", {
      subject: { id: "s", tier: "verified", roles: [], tags: [], attr: {} },
      scope: "a:b",
      resource: { kind: "tool", id: "t", attr: {} },
      explain: true,
    });
    expect(d.explanation?.map((t) => t.rule).sort()).toEqual(["p/kinds", "p/multi"]);
  });

  it.each(['1 > "a"', "tier_at_least(1, 2)", "principal.tier > 1"])(
    "refuses a condition that can never type-check: %s",
    (cond) => {
      const err = refusal(() =>
        parsePolicyDocuments(doc(`    - { name: r, scopes: ["a:b"], effect: deny, condition: '${cond}' }`)),
      );
      expect(err.reason).toBe("POLICY_INVALID");
      expect(err.details.rule).toBe("r");
    },
  );

  it("refuses unknown metadata fields, as the schema does", () => {
    const err = refusal(() =>
      parsePolicyDocuments(doc(`    - { name: r, scopes: ["a:b"], effect: allow }`, ", labels: { a: b }")),
    );
    expect(err.reason).toBe("POLICY_INVALID");
  });
});

const suite = (cases: string) => `apiVersion: tessera.dev/v1
kind: PolicyTest
metadata: { name: s }
spec:
  cases:
${cases}`;

describe("PolicyTest strictness", () => {
  it("places a missing expect at its case", () => {
    const err = refusal(() =>
      parsePolicyTests(suite(`    - name: c\n      subject: { id: a }\n      scope: a:b\n`), "t.yaml"),
    );
    expect(err.reason).toBe("POLICY_INVALID");
    expect(err.details).toMatchObject({ file: "t.yaml", line: "6" });
  });

  it.each([
    ["an unknown resource field", "resource: { kind: tool, owner: x }"],
    ["an unknown reason", "reason: BOGUS"],
    ["a rule that is not a string", "rule: 5"],
    ["attr given as a list", "resource: { kind: tool, attr: [1] }"],
    ["a numeric subject id", "subject: { id: 7 }"],
  ])("refuses %s", (_name, line) => {
    const base = { subject: "subject: { id: a }", rest: line };
    const text = suite(
      `    - name: c\n      ${line.startsWith("subject") ? line : base.subject}\n      scope: a:b\n      expect: allow\n${line.startsWith("subject") ? "" : `      ${base.rest}\n`}`,
    );
    expect(refusal(() => parsePolicyTests(text)).reason).toBe("POLICY_INVALID");
  });
});
