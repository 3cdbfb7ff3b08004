import { type CelFunc, CelScalar, celFunc, isCelList, isCelMap } from "@bufbuild/cel";
import { listConcatFunc } from "./cel-lists.js";

/**
 * What one condition evaluation may cost. A *step* is about one CEL node evaluated (roughly
 * 0.1 µs to 1 µs here), so `steps` bounds CPU; `bytes` bounds what the evaluation allocates
 * (strings, lists and iteration copies it produces), so memory stays bounded whatever the
 * input. See README "Policies" for the model and why these values.
 */
export interface CelLimits {
  /** Steps one condition evaluation may take. */
  readonly steps: number;
  /** Steps all the conditions of one decision may take together. */
  readonly decisionSteps: number;
  /** Bytes one condition evaluation may allocate (counted, not measured: a bound, not a heap reading). */
  readonly bytes: number;
  /** How deeply comprehensions (all, exists, exists_one, map, filter) may nest. */
  readonly nesting: number;
  /** Length the static estimate assumes for a list or map it cannot see (request input). */
  readonly assumedLength: number;
}

/** The limits every condition runs under. */
export const CEL_LIMITS: CelLimits = {
  steps: 100_000,
  decisionSteps: 300_000,
  bytes: 8 * 1024 * 1024,
  nesting: 3,
  assumedLength: 256,
};

/** Steps a decision (or a batch of decisions) has left for its conditions; they take from it. */
export interface EvaluationBudget {
  steps: number;
}

/** A fresh budget for one request's decisions. */
export function newEvaluationBudget(): EvaluationBudget {
  return { steps: CEL_LIMITS.decisionSteps };
}

/** The running evaluation's remaining budget. Evaluation is synchronous: one meter serves all. */
interface Meter {
  steps: number;
  bytes: number;
  /** Why the evaluation went over budget, once it has. */
  exceeded: string | undefined;
}

const meter: Meter = { steps: 0, bytes: 0, exceeded: undefined };

/** Starts metering an evaluation with `steps` steps and the byte budget. */
export function startMeter(steps: number, bytes = CEL_LIMITS.bytes): void {
  meter.steps = steps;
  meter.bytes = bytes;
  meter.exceeded = undefined;
}

/** The steps left to the running evaluation, and whether it went over budget. */
export function readMeter(): { readonly steps: number; readonly exceeded: string | undefined } {
  return meter;
}

/** Thrown inside CEL by the hooks; the library turns it into a CEL error value. */
class BudgetExceeded extends Error {}

function fail(why: string): never {
  meter.exceeded ??= why;
  throw new BudgetExceeded(meter.exceeded);
}

function charge(steps: number, bytes: number): void {
  meter.steps -= steps;
  meter.bytes -= bytes;
  // Once over, every later hook fails at once, so enclosing loops stop at their next item.
  if (meter.steps < 0) fail("condition exceeded its evaluation budget (steps)");
  if (meter.bytes < 0) fail("condition exceeded its evaluation budget (memory)");
}

/** Elements of a list or map, characters of a string, bytes of bytes; 0 for a scalar. */
function lengthOf(v: unknown): number {
  if (typeof v === "string") return v.length;
  if (v instanceof Uint8Array) return v.length;
  if (isCelList(v) || isCelMap(v)) return v.size;
  return 0;
}

/** Names start with "@": the CEL grammar has no such identifiers, so no condition can call them. */
export const HOOK = {
  range: "@tessera_range",
  step: "@tessera_step",
  alloc: "@tessera_alloc",
  size: "@tessera_size",
} as const;

const { DYN, INT } = CelScalar;

/** Around a comprehension's range: the fold copies it into an array before the first item. */
const range = celFunc(HOOK.range, [DYN], DYN, (v) => {
  const n = lengthOf(v);
  charge(n, 8 * n);
  return v;
});

/** Around a comprehension's loop condition: once per item, the weight of the loop body. */
const step = celFunc(HOOK.step, [DYN, INT], DYN, (v, weight) => {
  charge(Number(weight), 0);
  return v;
});

/** Around `+`: charges the string or bytes it produced (lists: see `concat`). */
const alloc = celFunc(HOOK.alloc, [DYN], DYN, (v) => {
  if (typeof v === "string") charge(1 + (v.length >> 6), 2 * v.length);
  else if (v instanceof Uint8Array) charge(1 + (v.length >> 6), v.length);
  return v;
});

/** `+` on lists, flat and metered by the elements it copies (it only runs inside a metered condition). */
const concat = listConcatFunc((copied) => charge(copied, 8 * copied));

/**
 * Around an argument of a function whose cost grows with its input (`in`, `==`, `matches`,
 * `contains`, …), inside a loop body: a scan of a long list or string is charged its length.
 */
const size = celFunc(HOOK.size, [DYN], DYN, (v) => {
  const n = lengthOf(v);
  charge(typeof v === "string" || v instanceof Uint8Array ? n >> 6 : n, 0);
  return v;
});

/** The hooks the instrumented expressions call. */
export const BUDGET_FUNCS: readonly CelFunc[] = [range, step, alloc, size, concat];
