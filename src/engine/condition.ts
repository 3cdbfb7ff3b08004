import { type CelInput, CelScalar, celEnv, celFunc, isCelError, parse, plan } from "@bufbuild/cel";
import { type Timestamp, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { isTier, tierAtLeast } from "../domain/tiers.js";

/** What a condition sees: `principal`, `resource`, `context` (plain objects or CEL maps) and `now`. */
export interface ConditionInput {
  readonly principal: CelInput;
  readonly resource: CelInput;
  readonly context: CelInput;
  readonly now: Timestamp;
}

/** A compiled condition: true/false, or an error string when evaluation failed (the rule then does not match). */
export type Condition = (input: ConditionInput) => boolean | { error: string };

/** `tier_at_least(tier, minimum)`: tiers compare by order inside CEL too. Unknown tiers are never "at least". */
const tierAtLeastFn = celFunc(
  "tier_at_least",
  [CelScalar.STRING, CelScalar.STRING],
  CelScalar.BOOL,
  (tier, min) => (isTier(tier) && isTier(min) ? tierAtLeast(tier, min) : false),
);

const ENV = celEnv({ funcs: [tierAtLeastFn] });

/** A binding with every variable present and empty, to catch unknown names and functions at compile time. */
const PROBE: ConditionInput = {
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

/**
 * Compiles a CEL condition once per policy revision. Throws an Error with a message safe to
 * show the policy author when the expression does not parse or names an unknown variable or
 * function. At evaluation time a CelError (a missing attribute, a type mismatch) or a non-bool
 * result is returned as `{ error }`, never thrown.
 */
export function compileCondition(source: string): Condition {
  const cached = COMPILED.get(source);
  if (cached) return cached;
  const compiled = compileUncached(source);
  // Conditions are pure, so one compiled function can serve every rule and revision that uses the text.
  if (COMPILED.size >= MAX_CACHED) COMPILED.clear();
  COMPILED.set(source, compiled);
  return compiled;
}

const COMPILED = new Map<string, Condition>();
const MAX_CACHED = 20_000;

function compileUncached(source: string): Condition {
  let run: ReturnType<typeof plan>;
  try {
    run = plan(ENV, parse(source));
  } catch (err) {
    throw new Error(`condition does not parse: ${(err as Error).message.split("\n")[0]}`);
  }
  const probe = run(PROBE as never);
  if (isCelError(probe) && FATAL.some((re) => re.test(probe.message))) {
    throw new Error(`condition cannot be evaluated: ${probe.message}`);
  }
  return (input) => {
    let result: unknown;
    try {
      result = run(input as never);
    } catch (err) {
      // The evaluator reports errors as values; a throw is a defect in it, still never an allow.
      return { error: `evaluation failed: ${(err as Error).message}` };
    }
    if (isCelError(result)) return { error: result.message };
    if (typeof result !== "boolean") return { error: "condition did not return a bool" };
    return result;
  };
}
