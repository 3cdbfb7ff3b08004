import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseDocumentSet, parsePolicyDocuments } from "../../src/engine/document.js";
import { PolicyEngine } from "../../src/engine/engine.js";
import type {
  AuthzQuery,
  DecisionReason,
  ResourceRef,
  RuleOutcome,
  Subject,
} from "../../src/engine/types.js";

/** A case of conditions.yaml, explain.yaml or custom-roles.yaml (see the comment atop conditions.yaml). */
interface Case {
  readonly name: string;
  readonly org?: string;
  readonly subject: Omit<Subject, "tags" | "attr"> & Partial<Pick<Subject, "tags" | "attr">>;
  readonly scope: string;
  readonly resource?: ResourceRef;
  readonly context?: Record<string, unknown>;
  readonly now?: string;
  readonly explain?: boolean;
  readonly expect: { allow: boolean; reason: DecisionReason; rule: string };
  readonly trace?: { rule: string; effect: string; outcome: RuleOutcome; error?: boolean }[];
}

interface Fixture {
  readonly revision: number;
  readonly policy: string;
  readonly cases: Case[];
  readonly fullCases?: Case[];
}

/** Conditions see no real clock: a case without `now` gets this one. */
const DEFAULT_NOW = "2024-01-01T00:00:00Z";
const FILES = ["conditions.yaml", "explain.yaml", "custom-roles.yaml"];

const fixture = (file: string): Fixture =>
  parse(readFileSync(new URL(`../fixtures/engine/${file}`, import.meta.url), "utf8")) as Fixture;

const toQuery = (c: Case, explain: boolean): AuthzQuery => ({
  subject: { tags: [], attr: {}, ...c.subject },
  scope: c.scope,
  resource: c.resource,
  context: c.context,
  explain,
});

const byRule = (a: { rule: string; effect: string }, b: { rule: string; effect: string }) =>
  `${a.rule} ${a.effect}`.localeCompare(`${b.rule} ${b.effect}`);

describe.each(FILES)("engine fixture %s", (file) => {
  const f = fixture(file);
  let now = new Date(DEFAULT_NOW);
  const engine = new PolicyEngine(() => now);
  const docs = parsePolicyDocuments(f.policy, file);

  it("has cases to run", () => {
    expect(f.cases.length).toBeGreaterThan(0);
  });

  it.each([...f.cases, ...(f.fullCases ?? [])])("$name", (c) => {
    now = new Date(c.now ?? DEFAULT_NOW);
    // The org is the fixture's file name (as engine.test.ts has it) unless the case names one.
    const org = c.org ?? file;
    engine.install(org, f.revision, docs);
    const plain = engine.decide(org, toQuery(c, false));
    expect(plain).toEqual({ ...c.expect, revision: f.revision });
    const explained = engine.decide(org, toQuery(c, true));
    expect({ ...explained, explanation: undefined }).toEqual(plain);
    if (!c.trace) return;
    const trace = (explained.explanation ?? []).map((t) => {
      if (t.outcome === "CONDITION_ERROR") expect(t.error).toMatch(/\S/);
      else expect(t.error).toBeUndefined();
      return { rule: t.rule, effect: t.effect, outcome: t.outcome, ...(t.error ? { error: true } : {}) };
    });
    expect(trace.sort(byRule)).toEqual([...c.trace].sort(byRule));
  });
});

/** Asserts `fn` throws POLICY_INVALID with exactly these details. */
const expectInvalid = (fn: () => unknown, details: Record<string, string>) =>
  expect(fn).toThrow(expect.objectContaining({ name: "TesseraError", reason: "POLICY_INVALID", details }));

/** A policy text; roles (if any) start on line 7. */
const doc = (name: string, roles: string[], rules = "") =>
  ["apiVersion: tessera.dev/v1", "kind: Policy", "metadata:", `  name: ${name}`, "spec:"]
    .concat(roles.length > 0 ? ["  roles:", ...roles.map((r) => `    ${r}`)] : [])
    .concat(rules ? ["  rules:", rules] : ["  rules: []"])
    .join("\n");
/** Rule `r` on scope a:b, ending with `last` (on line 10 when no roles precede it; value at column 18 for a condition). */
const ruleR = (last: string, effect = "allow") =>
  `    - name: r\n      scopes: ["a:b"]\n      effect: ${effect}\n      ${last}`;

describe("policies that do not compile are POLICY_INVALID with file, rule, line and column", () => {
  const compile = (...texts: string[]) =>
    PolicyEngine.compile(1, parseDocumentSet(texts.map((text, i) => ({ text, file: `p${i}.yaml` }))));

  it.each([
    ["a CEL syntax error", "'principal.attr.x =='"],
    ["an unknown variable", "'foo == 1'"],
    ["an unknown function", "'nofn(principal.id)'"],
    ["a condition that is a number", "5"],
    ["a condition that is a list", '["true"]'],
  ])("%s", (_name, condition) => {
    const text = doc("p", [], ruleR(`condition: ${condition}`));
    expectInvalid(() => compile(text), { file: "p0.yaml", rule: "r", line: "10", column: "18" });
  });

  it.each([
    ["a role inheritance cycle", ["a: { inherits: [b] }", "b: { inherits: [a] }"], "7"],
    ["a role inheriting itself", ["a: { inherits: [a] }"], "7"],
    ["an unknown inherited role", ["a: { inherits: [ghost] }"], "7"],
    ["a redefined built-in role", ["a: { inherits: [viewer] }", "admin: { inherits: [viewer] }"], "8"],
  ])("%s", (_name, roles, line) => {
    expectInvalid(() => compile(doc("p", roles)), { file: "p0.yaml", line, column: "5" });
  });

  it("one role defined differently in two documents of a set, naming the second", () => {
    const first = doc("one", ["auditor: { inherits: [viewer] }"], ruleR("roles: [auditor]"));
    const second = doc("two", ["auditor: { inherits: [operator] }"]);
    expectInvalid(() => compile(first, second), { file: "p1.yaml", line: "7", column: "5" });
    // The same definition twice is one role, not a conflict.
    expect(compile(first, doc("two", ["auditor: { inherits: [viewer] }"])).index.ruleCount).toBe(1);
  });

  it("a role one document of a set defines may be used by another", () => {
    const user = doc("user", [], ruleR("roles: [auditor]"));
    expect(compile(user, doc("roles", ["auditor: { inherits: [viewer] }"])).index.ruleCount).toBe(1);
    expectInvalid(() => compile(user), { file: "p0.yaml", rule: "r", line: "10", column: "14" });
  });
});

/** Three-valued CEL: a condition is true, false or an error ("E"), given which attributes exist. */
type V = boolean | "E";
type Env = { readonly team?: string; readonly n?: number | string; readonly flag?: boolean | string };
type Atom = { readonly src: string; readonly eval: (env: Env) => V };

const ATOMS: Atom[] = [
  { src: 'principal.attr.team == "red"', eval: (e) => (e.team === undefined ? "E" : e.team === "red") },
  { src: "has(principal.attr.team)", eval: (e) => e.team !== undefined },
  // A string compared with a number is a type error, as is a missing attribute.
  { src: "resource.attr.n > 3", eval: (e) => (typeof e.n === "number" ? e.n > 3 : "E") },
  { src: "context.flag", eval: (e) => (typeof e.flag === "boolean" ? e.flag : "E") },
  { src: "true", eval: () => true },
  { src: "false", eval: () => false },
];

const and = (a: V, b: V): V => (a === false || b === false ? false : a === true && b === true ? true : "E");
const or = (a: V, b: V): V => (a === true || b === true ? true : a === false && b === false ? false : "E");
const not = (a: V): V => (a === "E" ? "E" : !a);

const binary = (tie: (k: "e") => fc.Arbitrary<Atom>, op: string, f: (a: V, b: V) => V) =>
  fc.tuple(tie("e"), tie("e")).map(
    ([a, b]): Atom => ({
      src: `(${a.src} ${op} ${b.src})`,
      eval: (v) => f(a.eval(v), b.eval(v)),
    }),
  );
const exprArb: fc.Arbitrary<Atom> = fc.letrec<{ e: Atom }>((tie) => ({
  e: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom(...ATOMS),
    binary(tie, "&&", and),
    binary(tie, "||", or),
    tie("e").map((a): Atom => ({ src: `!(${a.src})`, eval: (v) => not(a.eval(v)) })),
  ),
})).e;

const envArb: fc.Arbitrary<Env> = fc.record(
  {
    team: fc.constantFrom("red", "blue"),
    n: fc.constantFrom(1, 5, "5"),
    flag: fc.constantFrom(true, false, "yes"),
  },
  { requiredKeys: [] },
);

const policy = (effect: string, condition: string, extra = "") =>
  doc("p", [], ruleR(`condition: ${JSON.stringify(condition)}`, effect) + extra);
const fallback = `\n    - name: any\n      scopes: ["a:b"]\n      effect: allow`;

function ask(text: string, env: Env) {
  const engine = new PolicyEngine(() => new Date(DEFAULT_NOW));
  engine.install("o", 1, parsePolicyDocuments(text));
  const attr = (v: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined));
  return engine.decide("o", {
    subject: { id: "s", tier: "verified", roles: [], tags: [], attr: attr({ team: env.team }) },
    scope: "a:b",
    resource: { kind: "k", id: "1", attr: attr({ n: env.n }) },
    context: attr({ flag: env.flag }),
    explain: true,
  });
}

describe("a condition that errors never allows (property)", () => {
  const denyOnError = (effect: string, onError: string, src: string) =>
    policy(effect, src, `\n      onConditionError: ${onError}${fallback}`);

  it("a rule matches exactly when its condition is true; an error is CONDITION_ERROR; a deny rule's error denies", () => {
    fc.assert(
      fc.property(exprArb, envArb, (expr, env) => {
        const want = expr.eval(env);
        const allow = ask(policy("allow", expr.src), env);
        expect(allow.allow).toBe(want === true);
        const outcome = want === "E" ? "CONDITION_ERROR" : want ? "MATCHED" : "CONDITION_FALSE";
        expect(allow.explanation?.map((t) => t.outcome)).toEqual([outcome]);
        // Default for a deny rule: an error denies as a match would (failing open is the trap).
        const deny = ask(policy("deny", expr.src, fallback), env);
        expect(deny.reason).toBe(want === false ? "ALLOWED_BY_RULE" : "DENIED_BY_RULE");
        expect(deny.explanation?.find((t) => t.rule === "p/r")?.outcome).toBe(outcome);
      }),
      { numRuns: 400 },
    );
  });

  it("onConditionError: skip makes a deny rule's error fall through; deny makes an allow rule's error deny", () => {
    fc.assert(
      fc.property(exprArb, envArb, (expr, env) => {
        const want = expr.eval(env);
        const skip = ask(denyOnError("deny", "skip", expr.src), env);
        expect(skip.reason).toBe(want === true ? "DENIED_BY_RULE" : "ALLOWED_BY_RULE");
        const strict = ask(denyOnError("allow", "deny", expr.src), env);
        expect(strict.allow).toBe(want !== "E");
        if (want === "E") expect(strict).toMatchObject({ reason: "DENIED_BY_RULE", rule: "p/r" });
      }),
      { numRuns: 200 },
    );
  });
});
