import { describe, expect, it } from "vitest";
import { parsePolicyDocuments } from "../../src/engine/document.js";
import { PolicyEngine } from "../../src/engine/engine.js";
import type { AuthzQuery, Decision, RuleOutcome } from "../../src/engine/types.js";

// Conditions see `principal`, `resource` and `context` as CEL map views over the query's own
// objects (src/engine/cel-object.ts). These cases go through the public engine, as
// engine-conditions.test.ts does, and check what a policy author can observe.

const NOW = "2024-01-01T00:00:00Z";

/** A policy with one rule `p/r` on scope a:b whose condition is `condition`. */
const policy = (condition: string, effect: "allow" | "deny" = "allow") =>
  [
    "apiVersion: tessera.dev/v1",
    "kind: Policy",
    "metadata:",
    "  name: p",
    "spec:",
    "  rules:",
    "    - name: r",
    '      scopes: ["a:b"]',
    `      effect: ${effect}`,
    `      condition: ${JSON.stringify(condition)}`,
  ].join("\n");

interface Input {
  readonly resourceAttr?: Record<string, unknown>;
  readonly principalAttr?: Record<string, unknown>;
  readonly context?: Record<string, unknown>;
  /** No resource at all in the query. */
  readonly noResource?: boolean;
}

function query(input: Input): AuthzQuery {
  return {
    subject: {
      id: "agt_1",
      tier: "verified",
      roles: ["operator"],
      tags: ["team=red"],
      attr: input.principalAttr ?? {},
      grants: { room: "r1" },
    },
    scope: "a:b",
    resource: input.noResource ? undefined : { kind: "tool", id: "t1", attr: input.resourceAttr ?? {} },
    context: input.context,
    explain: true,
  };
}

/** Decides the one-rule policy and returns the decision and the rule's outcome in the explanation. */
function decide(condition: string, input: Input = {}, effect: "allow" | "deny" = "allow", now = NOW) {
  const engine = new PolicyEngine(() => new Date(now));
  engine.install("org", 1, parsePolicyDocuments(policy(condition, effect)));
  const d: Decision = engine.decide("org", query(input));
  expect(d.explanation).toHaveLength(1);
  const trace = d.explanation?.[0];
  expect(trace?.rule).toBe("p/r");
  if (trace?.outcome === "CONDITION_ERROR") expect(trace.error).toMatch(/\S/);
  else expect(trace?.error).toBeUndefined();
  // Without explain the engine takes its short path; it must decide the same.
  const plain = engine.decide("org", { ...query(input), explain: false });
  expect({ ...d, explanation: undefined }).toEqual(plain);
  return { decision: d, outcome: trace?.outcome };
}

const ALLOWED = { allow: true, reason: "ALLOWED_BY_RULE", rule: "p/r", revision: 1 } as const;
const NOT_MATCHED = { allow: false, reason: "NO_MATCHING_RULE", rule: "", revision: 1 } as const;

/** Asserts the allow rule matched (true) or did not, with the given outcome. */
function expectOutcome(condition: string, input: Input, outcome: RuleOutcome): void {
  const { decision, outcome: got } = decide(condition, input);
  expect(got).toBe(outcome);
  expect({ ...decision, explanation: undefined }).toEqual({
    ...(outcome === "MATCHED" ? ALLOWED : NOT_MATCHED),
    explanation: undefined,
  });
}

const ATTR = {
  env: "staging",
  a: { b: { c: 1 } },
  tags: { a: "b" },
  list: ["x", "y"],
  items: [{ name: "first" }, { name: "second" }],
  count: 4,
  none: null,
};

describe("conditions read nested attributes through the map views", () => {
  it.each<[string, Input, RuleOutcome]>([
    // Struct numbers are doubles; CEL compares them with an int literal by value.
    ["resource.attr.a.b.c == 1", { resourceAttr: ATTR }, "MATCHED"],
    ["resource.attr.a.b.c == 1.0", { resourceAttr: ATTR }, "MATCHED"],
    ["resource.attr.a.b.c == 2", { resourceAttr: ATTR }, "CONDITION_FALSE"],
    ['resource.attr.a == {"b": {"c": 1.0}}', { resourceAttr: ATTR }, "MATCHED"],
    ["type(resource.attr.count) == double", { resourceAttr: ATTR }, "MATCHED"],
    ["resource.attr.count > 3", { resourceAttr: ATTR }, "MATCHED"],
    ["resource.attr.count > 4", { resourceAttr: ATTR }, "CONDITION_FALSE"],
    ["resource.attr.none == null", { resourceAttr: ATTR }, "MATCHED"],
    ["has(resource.attr.a.b)", { resourceAttr: ATTR }, "MATCHED"],
    ["has(resource.attr.a.z)", { resourceAttr: ATTR }, "CONDITION_FALSE"],
    ['resource.attr.items[1].name == "second"', { resourceAttr: ATTR }, "MATCHED"],
    ['resource.attr.items.exists(i, i.name == "first")', { resourceAttr: ATTR }, "MATCHED"],
    ['resource.attr.items.exists(i, i.name == "third")', { resourceAttr: ATTR }, "CONDITION_FALSE"],
  ])("%s", (condition, input, outcome) => {
    expectOutcome(condition, input, outcome);
  });
});

describe("`in`, size() and macros over an attribute map", () => {
  it.each<[string, Input, RuleOutcome]>([
    ['"env" in resource.attr', { resourceAttr: { env: "prod" } }, "MATCHED"],
    ['"env" in resource.attr', { resourceAttr: { other: "prod" } }, "CONDITION_FALSE"],
    ['"env" in resource.attr', { resourceAttr: {} }, "CONDITION_FALSE"],
    // CEL map keys are typed: the int 1 is not the string key "1".
    ['"1" in resource.attr', { resourceAttr: { "1": "one" } }, "MATCHED"],
    ["1 in resource.attr", { resourceAttr: { "1": "one" } }, "CONDITION_FALSE"],
    ["size(resource.attr) == 2", { resourceAttr: { x: 1, y: 2 } }, "MATCHED"],
    ["size(resource.attr) == 2", { resourceAttr: { x: 1, y: 2, z: 3 } }, "CONDITION_FALSE"],
    ["resource.attr.size() == 0", { resourceAttr: {} }, "MATCHED"],
    ["size(resource.attr.a) == 1", { resourceAttr: ATTR }, "MATCHED"],
    ['resource.attr.all(k, k.startsWith("x"))', { resourceAttr: { x1: 1, x2: 2 } }, "MATCHED"],
    ['resource.attr.all(k, k.startsWith("x"))', { resourceAttr: { x1: 1, y: 2 } }, "CONDITION_FALSE"],
    ['resource.attr.exists(k, k.startsWith("x"))', { resourceAttr: { y: 1, x9: 2 } }, "MATCHED"],
    ['resource.attr.exists(k, k.startsWith("x"))', { resourceAttr: { y: 1, z: 2 } }, "CONDITION_FALSE"],
    ["resource.attr.exists_one(k, resource.attr[k] == 2)", { resourceAttr: { y: 1, z: 2 } }, "MATCHED"],
    ['resource.attr.filter(k, k.startsWith("x")) == ["x1"]', { resourceAttr: { x1: 1, y: 2 } }, "MATCHED"],
    ['"x" in resource.attr.list', { resourceAttr: ATTR }, "MATCHED"],
    ['"q" in resource.attr.list', { resourceAttr: ATTR }, "CONDITION_FALSE"],
    ["size(resource.attr.list) == 2", { resourceAttr: ATTR }, "MATCHED"],
  ])("%s with %j", (condition, input, outcome) => {
    expectOutcome(condition, input, outcome);
  });
});

describe("map equality against a literal", () => {
  it.each<[string, RuleOutcome]>([
    ['resource.attr.tags == {"a": "b"}', "MATCHED"],
    ['resource.attr.tags == {"a": "c"}', "CONDITION_FALSE"],
    ['resource.attr.tags == {"a": "b", "z": "y"}', "CONDITION_FALSE"],
    ["resource.attr.tags == {}", "CONDITION_FALSE"],
    ['resource.attr.tags != {"a": "c"}', "MATCHED"],
    ['{"a": "b"} == resource.attr.tags', "MATCHED"],
    ["resource.attr == resource.attr", "MATCHED"],
  ])("%s", (condition, outcome) => {
    expectOutcome(condition, { resourceAttr: ATTR }, outcome);
  });
});

describe("principal, context and resource fields", () => {
  it.each<[string, Input, RuleOutcome]>([
    ['context.k == "v"', { context: { k: "v" } }, "MATCHED"],
    ['context.k == "v"', { context: { k: "w" } }, "CONDITION_FALSE"],
    ['"k" in context', { context: { k: "v" } }, "MATCHED"],
    ['"k" in context', {}, "CONDITION_FALSE"],
    ["size(context) == 0", {}, "MATCHED"],
    ['principal.attr.team == "red"', { principalAttr: { team: "red" } }, "MATCHED"],
    ['principal.attr.team == "red"', { principalAttr: { team: "blue" } }, "CONDITION_FALSE"],
    ['principal.id == "agt_1" && principal.org == "org" && principal.tier == "verified"', {}, "MATCHED"],
    ['"operator" in principal.roles && principal.tags == ["team=red"]', {}, "MATCHED"],
    ['principal.grants.room == "r1"', {}, "MATCHED"],
    ["principal.scopes == []", {}, "MATCHED"],
    ['resource.kind == "tool" && resource.id == "t1"', {}, "MATCHED"],
    // Without a resource, conditions see an empty one.
    ['resource.kind == "" && resource.id == "" && size(resource.attr) == 0', { noResource: true }, "MATCHED"],
    ['"env" in resource.attr', { noResource: true }, "CONDITION_FALSE"],
  ])("%s with %j", (condition, input, outcome) => {
    expectOutcome(condition, input, outcome);
  });
});

describe("a missing attribute never allows", () => {
  it.each<[string, Input]>([
    ['resource.attr.nope == "x"', { resourceAttr: { env: "prod" } }],
    ['resource.attr.a.b.nope == "x"', { resourceAttr: ATTR }],
    ['principal.attr.team == "red"', { principalAttr: {} }],
    ['context.k == "v"', {}],
    ['resource.attr.env == "x"', { noResource: true }],
  ])("%s with %j: CONDITION_ERROR", (condition, input) => {
    expectOutcome(condition, input, "CONDITION_ERROR");
  });

  it("and a deny rule whose condition errors denies (failing open there would be the trap)", () => {
    const { decision, outcome } = decide(
      'resource.attr.nope == "x"',
      { resourceAttr: { env: "prod" } },
      "deny",
    );
    expect(outcome).toBe("CONDITION_ERROR");
    expect(decision).toMatchObject({ allow: false, reason: "DENIED_BY_RULE", rule: "p/r" });
  });
});

describe("keys inherited from Object.prototype are not attributes", () => {
  const PROTO_KEYS = ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"];

  it.each(PROTO_KEYS)("%j in resource.attr, context and principal is false", (key) => {
    expectOutcome(`${JSON.stringify(key)} in resource.attr`, { resourceAttr: ATTR }, "CONDITION_FALSE");
    expectOutcome(`${JSON.stringify(key)} in resource.attr.a`, { resourceAttr: ATTR }, "CONDITION_FALSE");
    expectOutcome(`${JSON.stringify(key)} in context`, { context: { k: "v" } }, "CONDITION_FALSE");
    expectOutcome(`${JSON.stringify(key)} in principal`, {}, "CONDITION_FALSE");
    expectOutcome(
      `${JSON.stringify(key)} in principal.attr`,
      { principalAttr: { team: "red" } },
      "CONDITION_FALSE",
    );
    expectOutcome(
      `resource.attr.exists(k, k == ${JSON.stringify(key)})`,
      { resourceAttr: ATTR },
      "CONDITION_FALSE",
    );
  });

  it.each(PROTO_KEYS.filter((k) => k !== "__proto__"))("has(resource.attr.%s) is false", (key) => {
    expectOutcome(`has(resource.attr.${key})`, { resourceAttr: ATTR }, "CONDITION_FALSE");
    expectOutcome(`has(context.${key})`, {}, "CONDITION_FALSE");
  });

  it.each(PROTO_KEYS)("reading resource.attr[%j] is a CONDITION_ERROR, never an allow", (key) => {
    const k = JSON.stringify(key);
    expectOutcome(`resource.attr[${k}] == resource.attr[${k}]`, { resourceAttr: ATTR }, "CONDITION_ERROR");
    expectOutcome(`context[${k}] == context[${k}]`, { context: { k: "v" } }, "CONDITION_ERROR");
  });

  it.each(["constructor", "toString"])(
    "reading resource.attr.%s is a CONDITION_ERROR, never an allow",
    (key) => {
      expectOutcome(
        `resource.attr.${key} == resource.attr.${key}`,
        { resourceAttr: ATTR },
        "CONDITION_ERROR",
      );
      expectOutcome(`resource.attr.${key} != null`, { resourceAttr: ATTR }, "CONDITION_ERROR");
      expectOutcome(
        `resource.attr.a.${key} == resource.attr.a.${key}`,
        { resourceAttr: ATTR },
        "CONDITION_ERROR",
      );
    },
  );

  it("size() counts only the object's own keys", () => {
    expectOutcome("size(resource.attr) == 1", { resourceAttr: { only: 1 } }, "MATCHED");
  });

  it("an attribute that really has such a name is seen", () => {
    const own = { constructor: "x", toString: "y" };
    expectOutcome('resource.attr.constructor == "x"', { resourceAttr: own }, "MATCHED");
    expectOutcome(
      '"toString" in resource.attr && resource.attr.toString == "y"',
      { resourceAttr: own },
      "MATCHED",
    );
    // JSON.parse makes "__proto__" an own key, as a decoded Struct field would be.
    const parsed = JSON.parse('{"__proto__": "p"}') as Record<string, unknown>;
    expectOutcome(
      '"__proto__" in resource.attr && resource.attr["__proto__"] == "p"',
      { resourceAttr: parsed },
      "MATCHED",
    );
    expectOutcome("size(resource.attr) == 1", { resourceAttr: parsed }, "MATCHED");
  });

  it("a null-prototype object is read like any other", () => {
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { k: 1 });
    expectOutcome('"k" in resource.attr && resource.attr.k == 1', { resourceAttr: bare }, "MATCHED");
    expectOutcome('"constructor" in resource.attr', { resourceAttr: bare }, "CONDITION_FALSE");
  });
});

describe("`now` in a condition", () => {
  it.each<[string, string, RuleOutcome]>([
    ['now > timestamp("2000-01-01T00:00:00Z")', NOW, "MATCHED"],
    ['now < timestamp("2000-01-01T00:00:00Z")', NOW, "CONDITION_FALSE"],
    ['now == timestamp("2024-01-01T00:00:00Z")', NOW, "MATCHED"],
    ['now == timestamp("2024-01-01T00:00:00Z")', "2024-01-01T00:00:01Z", "CONDITION_FALSE"],
    ['now >= timestamp("2030-06-01T00:00:00Z")', "2030-06-01T00:00:00.001Z", "MATCHED"],
    ["now.getFullYear() == 2031", "2031-03-04T05:06:07Z", "MATCHED"],
  ])("%s at %s", (condition, now, outcome) => {
    const { decision, outcome: got } = decide(condition, {}, "allow", now);
    expect(got).toBe(outcome);
    expect(decision.allow).toBe(outcome === "MATCHED");
  });

  it("is the engine's clock at each decision, not the first one", () => {
    let now = new Date("2024-01-01T00:00:00Z");
    const engine = new PolicyEngine(() => now);
    engine.install("org", 1, parsePolicyDocuments(policy('now > timestamp("2025-01-01T00:00:00Z")')));
    expect(engine.decide("org", query({})).allow).toBe(false);
    now = new Date("2026-01-01T00:00:00Z");
    expect(engine.decide("org", query({})).allow).toBe(true);
  });
});

describe("several rules in one decision read the same bindings", () => {
  it("a deny and an allow both see the attributes", () => {
    const text = `${policy('resource.attr.env == "prod"', "deny")}\n    - name: ok\n      scopes: ["a:b"]\n      effect: allow\n      condition: 'resource.attr.env == "staging" && "x" in resource.attr.list'\n`;
    const engine = new PolicyEngine(() => new Date(NOW));
    engine.install("org", 1, parsePolicyDocuments(text));
    const staging = engine.decide("org", query({ resourceAttr: { env: "staging", list: ["x"] } }));
    expect(staging).toMatchObject({ allow: true, reason: "ALLOWED_BY_RULE", rule: "p/ok" });
    const prod = engine.decide("org", query({ resourceAttr: { env: "prod", list: ["x"] } }));
    expect(prod).toMatchObject({ allow: false, reason: "DENIED_BY_RULE", rule: "p/r" });
    const outcomes = Object.fromEntries((prod.explanation ?? []).map((t) => [t.rule, t.outcome]));
    expect(outcomes).toEqual({ "p/r": "MATCHED", "p/ok": "CONDITION_FALSE" });
  });
});
