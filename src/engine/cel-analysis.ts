import type { parse } from "@bufbuild/cel";
import { HOOK } from "./cel-budget.js";
import { LINEAR, weightOf } from "./cel-cost.js";

/** A parsed CEL expression node (protobuf-es `cel.expr.Expr`). */
export type Expr = NonNullable<ReturnType<typeof parse>["expr"]>;
type Call = Extract<Expr["exprKind"], { case: "callExpr" }>["value"];
type Comprehension = Extract<Expr["exprKind"], { case: "comprehensionExpr" }>["value"];
type Entry = Extract<Expr["exprKind"], { case: "structExpr" }>["value"]["entries"][number];

/** What the static analysis found out about a condition. */
export interface ConditionShape {
  /** Estimated worst-case cost in steps, taking each request list or map as `assumedLength` long. */
  readonly cost: number;
  /** The deepest nesting of comprehensions (0: none). */
  readonly nesting: number;
  /** Reads no variable (principal, resource, context, now): its value never changes. */
  readonly constant: boolean;
  /** Was instrumented (has a loop or a `+`): only then does an evaluation need the meter. */
  readonly metered: boolean;
  /** Steps one evaluation costs outside its loops (which charge themselves as they run). */
  readonly weight: number;
}

/**
 * A subtree after the walk: its rewritten node, its estimated cost (loops included), the length
 * of the collection it yields, its weight (what one evaluation of it costs, its own loops'
 * bodies aside: those charge themselves), and whether it reads a variable.
 */
interface Estimate {
  readonly expr: Expr;
  readonly cost: number;
  readonly length: number;
  readonly weight: number;
  readonly free: boolean;
}

interface Scope {
  /** Enclosing comprehensions. */
  readonly loops: number;
  /** Comprehension variables in scope (reading them is not reading the request). */
  readonly bound: readonly string[];
}

function callOf(name: string, args: Expr[], id: bigint): Expr {
  const value = { $typeName: "cel.expr.Expr.Call", function: name, args, target: undefined } as Call;
  return { $typeName: "cel.expr.Expr", id, exprKind: { case: "callExpr", value } } as Expr;
}

function intConstant(n: number, id: bigint): Expr {
  const value = { $typeName: "cel.expr.Constant", constantKind: { case: "int64Value", value: BigInt(n) } };
  return { $typeName: "cel.expr.Expr", id, exprKind: { case: "constExpr", value } } as Expr;
}

/** A node of weight `own` over `parts`; `extra` is cost beyond the parts' (a scan, a copy). */
function combine(expr: Expr, parts: readonly Estimate[], length: number, own = 1, extra = 0): Estimate {
  let cost = own + extra;
  let weight = own;
  let free = false;
  for (const p of parts) {
    cost += p.cost;
    weight += p.weight;
    free ||= p.free;
  }
  return { expr, cost, length, weight, free };
}

/**
 * One walk over a parsed condition: estimates its cost and nesting, and rewrites it in place so
 * that it meters itself as it runs (see cel-budget.ts). Every comprehension charges its range
 * and, per item, the weight of its body; every `+` charges what it produces; inside a loop, every
 * function whose cost grows with its input charges that input's length. A condition without
 * loops or `+` is left as it was, so the common condition costs nothing extra.
 */
class Walk {
  nesting = 0;
  /** Hook calls inserted: none means the condition needs no meter. */
  hooks = 0;

  constructor(private readonly assumedLength: number) {}

  private hook(name: string, args: Expr[], id: bigint): Expr {
    this.hooks++;
    return callOf(name, args, id);
  }

  /** Wraps an argument of a linear function in a loop body, unless it is a literal (bounded by the text). */
  private sized(e: Estimate): Expr {
    return e.expr.exprKind.case === "constExpr" ? e.expr : this.hook(HOOK.size, [e.expr], e.expr.id);
  }

  visit(e: Expr, scope: Scope): Estimate {
    const k = e.exprKind;
    switch (k.case) {
      case "identExpr": {
        const free = !scope.bound.includes(k.value.name);
        return { expr: e, cost: 1, length: this.assumedLength, weight: 1, free };
      }
      case "selectExpr": {
        const operand = k.value.operand && this.visit(k.value.operand, scope);
        if (operand) k.value.operand = operand.expr;
        return combine(e, operand ? [operand] : [], this.assumedLength);
      }
      case "listExpr": {
        const items = k.value.elements.map((x) => this.visit(x, scope));
        k.value.elements = items.map((x) => x.expr);
        return combine(e, items, items.length, 2);
      }
      case "structExpr":
        return this.struct(e, k.value.entries, scope);
      case "callExpr":
        return this.call(e, k.value, scope);
      case "comprehensionExpr":
        return this.comprehension(e, k.value, scope);
      default:
        return { expr: e, cost: 1, length: 0, weight: 1, free: false };
    }
  }

  private struct(e: Expr, entries: readonly Entry[], scope: Scope): Estimate {
    const parts: Estimate[] = [];
    for (const entry of entries) {
      if (entry.keyKind.case === "mapKey") {
        const key = this.visit(entry.keyKind.value, scope);
        entry.keyKind.value = key.expr;
        parts.push(key);
      }
      if (entry.value) {
        const value = this.visit(entry.value, scope);
        entry.value = value.expr;
        parts.push(value);
      }
    }
    return combine(e, parts, entries.length, 4);
  }

  private call(e: Expr, c: Call, scope: Scope): Estimate {
    const target = c.target && this.visit(c.target, scope);
    const args = c.args.map((a) => this.visit(a, scope));
    const metered = scope.loops > 0 && LINEAR.has(c.function);
    if (target) c.target = metered ? this.sized(target) : target.expr;
    c.args = args.map((a) => (metered ? this.sized(a) : a.expr));
    const parts = target ? [target, ...args] : args;
    const own = weightOf(c);
    const [a, b, third] = args;
    if (c.function === "_+_") {
      // What a concatenation copies is charged as it runs (the estimate cannot tell a list from
      // a number, and map()/filter() appending to their own result copy only what they append).
      const length = (a?.length ?? 0) + (b?.length ?? 0);
      return { ...combine(e, parts, length, own), expr: this.hook(HOOK.alloc, [e], e.id) };
    }
    if (c.function === "@in") return combine(e, parts, 0, own, b?.length ?? 0); // scans the list
    const length = c.function === "_?_:_" ? Math.max(b?.length ?? 0, third?.length ?? 0) : this.assumedLength;
    return combine(e, parts, length, own);
  }

  private comprehension(e: Expr, c: Comprehension, scope: Scope): Estimate {
    const { iterRange, accuInit, loopCondition, loopStep, result } = c;
    if (!iterRange || !accuInit || !loopCondition || !loopStep || !result) return combine(e, [], 0);
    this.nesting = Math.max(this.nesting, scope.loops + 1);
    const range = this.visit(iterRange, scope);
    const init = this.visit(accuInit, scope);
    const inner = { loops: scope.loops + 1, bound: [...scope.bound, c.iterVar, c.accuVar] };
    const cond = this.visit(loopCondition, inner);
    const step = this.visit(loopStep, inner);
    const out = this.visit(result, { loops: scope.loops, bound: [...scope.bound, c.accuVar] });
    const perItem = 1 + cond.weight + step.weight;
    c.iterRange = this.hook(HOOK.range, [range.expr], iterRange.id);
    c.loopCondition = this.hook(
      HOOK.step,
      [cond.expr, intConstant(perItem, loopCondition.id)],
      loopCondition.id,
    );
    c.accuInit = init.expr;
    c.loopStep = step.expr;
    c.result = out.expr;
    const n = range.length;
    // map() and filter() yield a list as long as their range; all(), exists() a scalar.
    const length = accuInit.exprKind.case === "listExpr" ? n : 0;
    const loop = n + n * (1 + cond.cost + step.cost);
    const free = range.free || init.free || cond.free || step.free || out.free;
    return { ...combine(e, [range, init, out], length, 1, loop), free };
  }
}

/**
 * Analyses a parsed condition and instruments it for metering (see Walk; the tree is rewritten
 * in place, and the root may be replaced). Returns the root to plan and what the analysis found;
 * the caller decides what to refuse.
 */
export function analyze(expr: Expr, assumedLength: number): { expr: Expr; shape: ConditionShape } {
  const walk = new Walk(assumedLength);
  const top = walk.visit(expr, { loops: 0, bound: [] });
  const shape = {
    cost: top.cost,
    nesting: walk.nesting,
    constant: !top.free,
    metered: walk.hooks > 0,
    weight: top.weight,
  };
  return { expr: top.expr, shape };
}
