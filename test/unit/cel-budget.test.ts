import { describe, expect, it } from "vitest";
import { TesseraError } from "../../src/domain/errors.js";
import { CEL_LIMITS, newEvaluationBudget } from "../../src/engine/cel-budget.js";
import { parsePolicyDocuments } from "../../src/engine/document.js";
import { PolicyEngine, parseStored } from "../../src/engine/engine.js";
import type { AuthzQuery, Decision } from "../../src/engine/types.js";

/** One policy `p` whose rule `r` (on scope a:b) has this condition and effect, plus an allow rule `any`. */
const policy = (condition: string, effect = "allow") => `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: p }
spec:
  rules:
    - name: r
      scopes: ["a:b"]
      effect: ${effect}
      condition: ${JSON.stringify(condition)}
    - { name: any, scopes: ["a:b"], effect: ${effect === "deny" ? "allow" : "deny"}, condition: "false" }
`;

function refusal(fn: () => unknown): TesseraError {
  try {
    fn();
  } catch (err) {
    if (err instanceof TesseraError) return err;
    throw err;
  }
  throw new Error("expected a refusal");
}

const digits = "[0,1,2,3,4,5,6,7,8,9]";
/** Issue #9 finding 2: eight nested all() over ten items, 10^8 evaluations of the body. */
const EIGHT_NESTED = `${"abcdefgh"
  .split("")
  .map((v) => `${digits}.all(${v}, `)
  .join("")}a + b + c + d + e + f + g + h >= 0${")".repeat(8)}`;

/** Issue #11: a constant list of 10^8 strings, eight map() deep. */
const EIGHT_MAPS = `${"abcdefg"
  .split("")
  .map((v) => `${digits}.map(${v}, `)
  .join("")}${digits}.map(h, string(a) + string(h))${")".repeat(7)}`;

/** A revision as the store hands it over: validated when put, so nothing is checked on load. */
function stored(condition: string, effect = "allow"): PolicyEngine {
  const engine = new PolicyEngine(() => new Date(0));
  engine.install("o", 1, parseStored("o", [policy(condition, effect)]));
  return engine;
}

const query = (context: Record<string, unknown>, extra: Partial<AuthzQuery> = {}): AuthzQuery => ({
  subject: { id: "s", tier: "verified", roles: [], tags: [], attr: {} },
  scope: "a:b",
  context,
  explain: true,
  ...extra,
});

const outcomeOf = (d: Decision) => d.explanation?.find((t) => t.rule === "p/r");

/** A list of n distinct short strings (an 8 KiB request holds a couple of thousand). */
const strings = (n: number) => Array.from({ length: n }, (_, i) => `s${i}`);

describe("validating a condition refuses one over the CEL limits with POLICY_TOO_COMPLEX", () => {
  it.each([
    ["eight nested all() (issue #9, finding 2)", EIGHT_NESTED],
    [
      "four nested comprehensions, even over two items",
      "[1,2].all(a, [1,2].all(b, [1,2].all(c, [1,2].all(d, true))))",
    ],
    ["two nested loops over request lists (N^2)", "context.l.all(x, context.m.exists(y, y == x))"],
    ["a constant that would build 10^8 strings (issue #11)", `${EIGHT_MAPS}.size() > 0`],
    [
      "a constant estimated over the budget",
      `${digits}.all(a, ${digits}.all(b, ${digits}.all(c, "ab".matches("a.") && "cd".matches("c."))))`,
    ],
    // The estimate cannot see a string's length; the probe evaluation, run under the budget, can.
    [
      "a constant that runs over the budget",
      `${digits}.all(a, ${digits}.all(b, ${digits}.all(c, ("${"x".repeat(3000)}" + string(a)).size() > 0)))`,
    ],
    [
      "a time zone lookup in a loop over a request list",
      "context.l.all(x, now.getHours('Europe/Paris') >= 0)",
    ],
  ])("%s", (_name, condition) => {
    const err = refusal(() => parsePolicyDocuments(policy(condition), "p.yaml"));
    expect({ reason: err.reason, rule: err.details.rule, line: err.details.line }).toEqual({
      reason: "POLICY_TOO_COMPLEX",
      rule: "r",
      line: "9",
    });
  });

  it.each([
    ["one loop over a request list", "principal.roles.exists(r, r in resource.attr.allowed)"],
    ["nested loops over short literal lists", '["a","b"].all(x, ["c","d"].all(y, x != y))'],
    ["map and filter over a request list", "context.l.map(x, x + '!').filter(y, y != '!').size() >= 0"],
  ])("and accepts %s", (_name, condition) => {
    expect(parsePolicyDocuments(policy(condition), "p.yaml")).toHaveLength(1);
  });

  it("a condition cannot call the budget hooks itself: their names do not parse", () => {
    expect(refusal(() => parsePolicyDocuments(policy("@tessera_step(true, 0)"), "p.yaml")).reason).toBe(
      "POLICY_INVALID",
    );
  });

  it("a condition that reads no variable and fails is refused: it could never hold", () => {
    expect(refusal(() => parsePolicyDocuments(policy("1 / 0 == 1"), "p.yaml")).reason).toBe("POLICY_INVALID");
  });
});

describe("at evaluation, a condition over its budget errors and does not match", () => {
  it("a stored nested loop over request lists: CONDITION_ERROR, never an allow", () => {
    const d = stored("context.l.all(x, context.l.all(y, x != y || x == y))").decide(
      "o",
      query({ l: strings(2000) }),
    );
    expect(d.allow).toBe(false);
    expect(outcomeOf(d)?.outcome).toBe("CONDITION_ERROR");
  });

  it("an accepted single loop driven quadratic by `in` over an 8 KiB request list (issue #11)", () => {
    const condition = "context.l.all(x, x in context.l)";
    expect(parsePolicyDocuments(policy(condition), "p.yaml")).toHaveLength(1);
    const engine = stored(condition);
    expect(engine.decide("o", query({ l: strings(50) })).allow).toBe(true);
    const d = engine.decide("o", query({ l: strings(2000) }));
    expect({ allow: d.allow, outcome: outcomeOf(d)?.outcome }).toEqual({
      allow: false,
      outcome: "CONDITION_ERROR",
    });
  });

  it("a deny rule whose condition runs out of budget denies", () => {
    const d = stored("context.l.all(x, context.l.all(y, x != y || x == y))", "deny").decide(
      "o",
      query({ l: strings(2000) }),
    );
    expect({ allow: d.allow, reason: d.reason, rule: d.rule }).toEqual({
      allow: false,
      reason: "DENIED_BY_RULE",
      rule: "p/r",
    });
  });

  it("memory: strings built in a loop count against the evaluation's bytes", () => {
    const s = "x".repeat(4096);
    const d = stored("context.l.map(x, context.s + context.s + x).size() > 0").decide(
      "o",
      query({ l: strings(1000), s }),
    );
    expect(outcomeOf(d)).toMatchObject({
      outcome: "CONDITION_ERROR",
      error: expect.stringMatching(/memory/),
    });
  });

  it("the conditions of one decision share one budget: the later ones error once it is spent", () => {
    const heavy = (i: number) =>
      `    - { name: r${i}, scopes: ["a:b"], effect: allow, condition: "context.l.all(x, x in context.l) && ${i} > 0" }`;
    const text = `apiVersion: tessera.dev/v1\nkind: Policy\nmetadata: { name: p }\nspec:\n  rules:\n${[1, 2, 3, 4, 5, 6].map(heavy).join("\n")}\n`;
    const engine = new PolicyEngine(() => new Date(0));
    engine.install("o", 1, parseStored("o", [text]));
    // Each condition alone fits one evaluation's budget; together they are over the decision's.
    const d = engine.decide("o", query({ l: strings(250) }));
    const outcomes = d.explanation?.map((t) => t.outcome) ?? [];
    expect(outcomes.filter((o) => o === "MATCHED").length).toBeGreaterThan(0);
    expect(outcomes.at(-1)).toBe("CONDITION_ERROR");
  });

  it("a batch shares one budget across its decisions when given one", () => {
    const engine = stored("context.l.all(x, x in context.l)");
    const budget = newEvaluationBudget();
    const outcomes = Array.from({ length: 8 }, () =>
      outcomeOf(engine.decide("o", query({ l: strings(200) }, { budget }))),
    ).map((t) => t?.outcome);
    expect(outcomes[0]).toBe("MATCHED");
    expect(outcomes.at(-1)).toBe("CONDITION_ERROR");
    expect(budget.steps).toBeLessThan(CEL_LIMITS.steps);
  });
});

describe("a condition that reads no variable is evaluated once, when compiled", () => {
  it("a stored constant over budget (issue #11) errors on every request without being run again", () => {
    const four = `${digits}.all(a, ${digits}.all(b, ${digits}.all(c, ${digits}.all(d, a + b + c + d >= 0))))`;
    const engine = stored(four);
    for (let i = 0; i < 20; i++) {
      const budget = newEvaluationBudget();
      const d = engine.decide("o", query({}, { budget }));
      expect(outcomeOf(d)?.outcome).toBe("CONDITION_ERROR");
      expect(budget.steps).toBe(CEL_LIMITS.decisionSteps);
    }
  });

  it("a constant that holds matches, and costs requests nothing", () => {
    const engine = stored(`${digits}.exists(a, a == 9)`);
    const budget = newEvaluationBudget();
    expect(engine.decide("o", query({}, { budget })).allow).toBe(true);
    expect(budget.steps).toBe(CEL_LIMITS.decisionSteps);
  });
});

describe("lists built by +, map() and filter() stay correct", () => {
  it.each([
    "[1, 2, 3].map(x, x * 2) == [2, 4, 6]",
    "[1, 2, 3].filter(x, x > 1) == [2, 3]",
    "[1, 2] + [3] + [] == [1, 2, 3]",
    "context.l.map(x, x).size() == 300 && context.l.map(x, x)[299] == 's299'",
    "'s7' in context.l.filter(x, x.endsWith('7'))",
    // Appending twice to one list must not let the second append see the first.
    "[[0].map(x, x)].all(a, (a + [1])[1] == 1 && (a + [2])[1] == 2 && (a + [2]).size() == 2 && a.size() == 1)",
  ])("%s", (condition) => {
    const d = stored(condition).decide("o", query({ l: strings(300) }));
    expect(outcomeOf(d)).toMatchObject({ outcome: "MATCHED" });
  });
});
