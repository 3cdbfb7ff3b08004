import { type CelInput, CelScalar, celEnv, celFunc, isCelError, parse, plan } from "@bufbuild/cel";
import { type Timestamp, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { isTier, tierAtLeast } from "../domain/tiers.js";
import { analyze, type ConditionShape } from "./cel-analysis.js";
import {
  BUDGET_FUNCS,
  CEL_LIMITS,
  type CelLimits,
  type EvaluationBudget,
  readMeter,
  startMeter,
} from "./cel-budget.js";

/** What a condition sees: `principal`, `resource`, `context` (plain objects or CEL maps) and `now`. */
export interface ConditionInput {
  readonly principal: CelInput;
  readonly resource: CelInput;
  readonly context: CelInput;
  readonly now: Timestamp;
  /**
   * Steps the decision (or batch) has left for its conditions: each evaluation may use up to
   * one condition's budget of them, and takes off what it used. Absent: one condition's budget.
   */
  readonly budget?: EvaluationBudget | undefined;
}

/** A compiled condition: true/false, or an error string when evaluation failed. */
export type Condition = (input: ConditionInput) => boolean | { error: string };

/** A condition the limits refuse at validation (nesting, estimated cost, or over budget on every input). */
export class ConditionTooComplex extends Error {}

/** `tier_at_least(tier, minimum)`: tiers compare by order inside CEL too. Unknown tiers are never "at least". */
const tierAtLeastFn = celFunc(
  "tier_at_least",
  [CelScalar.STRING, CelScalar.STRING],
  CelScalar.BOOL,
  (tier, min) => (isTier(tier) && isTier(min) ? tierAtLeast(tier, min) : false),
);

const ENV = celEnv({ funcs: [tierAtLeastFn, ...BUDGET_FUNCS] });

/** A binding with every variable present and empty, to catch unknown names and functions at compile time. */
const PROBE = {
  principal: {
    id: "",
    org: "",
    tier: "unverified",
    roles: [],
    scopes: [],
    tags: [],
    grants: {},
    act: [],
    attr: {},
  },
  resource: { kind: "", id: "", attr: {} },
  context: {},
  now: timestampFromMs(0),
};

/** Compile-time failures: the expression can never work, whatever the input. */
const FATAL = [/^unresolved attribute/, /^unbound function/, /no matching overload/, /^no such overload/];

/** A parsed, analysed and planned condition; probed (evaluated once on the empty input) on first need. */
interface Planned {
  readonly run: ReturnType<typeof plan>;
  readonly shape: ConditionShape;
  probed?: Probed | { readonly fatal: string };
}

/** What the probe found, and the condition to evaluate (folded to its value when it reads no variable). */
interface Probed {
  readonly evaluate: Condition;
  /** The probe's outcome when it was an error. */
  readonly error: string | undefined;
  /** The probe (empty lists and maps) went over budget: so will any input. */
  readonly overBudget: boolean;
}

const COMPILED = new Map<string, Planned>();
const MAX_CACHED = 20_000;

/**
 * Compiles a CEL condition once per process (conditions are pure, so one compiled function
 * serves every rule and revision that uses the text). Throws an Error with a message safe to
 * show the policy author when the expression does not parse or names an unknown variable or
 * function. Evaluation never throws: an error, a non-bool result or an exhausted budget is
 * returned as `{ error }`. Cost limits are not enforced here (a stored revision was checked
 * when it was put, and the runtime budget bounds it anyway): `checkCondition` enforces them.
 */
export function compileCondition(source: string): Condition {
  return probed(planned(source)).evaluate;
}

/**
 * Validates a condition for a new policy: refuses (ConditionTooComplex) one that nests
 * comprehensions too deeply or whose estimated cost is over one evaluation's budget (before
 * running anything), or that runs over budget on the empty probe input; and (Error) one that
 * does not compile, or reads no variable and so can only ever fail.
 */
export function checkCondition(source: string, limits: CelLimits = CEL_LIMITS): void {
  const { shape } = planned(source);
  if (shape.nesting > limits.nesting)
    throw new ConditionTooComplex(`comprehensions nest ${shape.nesting} deep (at most ${limits.nesting})`);
  if (shape.cost > limits.steps) {
    const estimate = shape.cost > 1e12 ? "more than 10^12" : String(Math.ceil(shape.cost));
    throw new ConditionTooComplex(`estimated cost ${estimate} steps is over the budget of ${limits.steps}`);
  }
  const probe = probed(planned(source));
  if (probe.overBudget) throw new ConditionTooComplex(`${probe.error} even on empty input`);
  if (shape.constant && probe.error) throw new Error(`condition can never hold: ${probe.error}`);
}

function planned(source: string): Planned {
  const cached = COMPILED.get(source);
  if (cached) return cached;
  let c: Planned;
  try {
    const analysed = analyze(parse(source).expr, CEL_LIMITS.assumedLength);
    c = { shape: analysed.shape, run: plan(ENV, analysed.expr) };
  } catch (err) {
    throw new Error(`condition does not parse: ${(err as Error).message.split("\n")[0]}`);
  }
  if (COMPILED.size >= MAX_CACHED) COMPILED.clear();
  COMPILED.set(source, c);
  return c;
}

function probed(c: Planned): Probed {
  c.probed ??= probe(c);
  if ("fatal" in c.probed) throw new Error(c.probed.fatal);
  return c.probed;
}

/** Evaluates once on the empty input, under the budget like any evaluation: what a constant condition is. */
function probe({ run, shape }: Planned): Probed | { fatal: string } {
  const evaluate = shape.metered ? metered(run, shape.weight) : unmetered(run, shape.weight);
  const result = evaluate(PROBE);
  const error = typeof result === "boolean" ? undefined : result.error;
  const overBudget = shape.metered && readMeter().exceeded !== undefined;
  if (error && FATAL.some((re) => re.test(error)))
    return { fatal: `condition cannot be evaluated: ${error}` };
  // A condition that reads no variable has one value, computed once here, never per request.
  const folded: Condition = () => result;
  return { evaluate: shape.constant ? folded : evaluate, error, overBudget };
}

/** Runs a plan. The evaluator reports errors as values, so a throw is a defect in it: still never an allow. */
function execute(run: ReturnType<typeof plan>, input: ConditionInput): boolean | { error: string } {
  let result: unknown;
  try {
    result = run(input as never);
  } catch (err) {
    return { error: `evaluation failed: ${(err as Error).message}` };
  }
  if (isCelError(result)) return { error: result.message };
  if (typeof result !== "boolean") return { error: "condition did not return a bool" };
  return result;
}

/** Why an evaluation over budget failed: its own budget, or the one its decision's conditions share. */
function overBudget(
  allowed: number,
  why = "condition exceeded its evaluation budget (steps)",
): { error: string } {
  return { error: allowed < CEL_LIMITS.steps ? SHARED_BUDGET : why };
}

const SHARED_BUDGET = "the decision's conditions exceeded their shared evaluation budget";

/** Steps an evaluation may use: one condition's budget, or what its decision has left if that is less. */
function allowance(budget: EvaluationBudget | undefined): number {
  return budget === undefined || budget.steps > CEL_LIMITS.steps
    ? CEL_LIMITS.steps
    : Math.max(budget.steps, 0);
}

/** A condition without loops or `+`: its cost is its static weight, taken from the decision's budget. */
function unmetered(run: ReturnType<typeof plan>, weight: number): Condition {
  // Only a stored condition from before these limits can weigh more than one evaluation may.
  if (weight > CEL_LIMITS.steps) return () => overBudget(CEL_LIMITS.steps);
  return (input) => {
    const budget = input.budget;
    if (budget !== undefined) {
      if (budget.steps < weight) return overBudget(budget.steps);
      budget.steps -= weight;
    }
    return execute(run, input);
  };
}

/** A condition with loops or `+`: runs under the meter, which its loops and `+` charge as they go. */
function metered(run: ReturnType<typeof plan>, weight: number): Condition {
  return (input) => {
    const budget = input.budget;
    const allowed = allowance(budget);
    if (allowed < weight) return overBudget(allowed);
    startMeter(allowed - weight);
    const result = execute(run, input);
    const m = readMeter();
    if (budget) budget.steps -= allowed - Math.max(m.steps, 0);
    // Over budget is an error even where CEL absorbed it (`error || true` is true).
    if (m.exceeded) return overBudget(allowed, m.exceeded);
    return result;
  };
}
