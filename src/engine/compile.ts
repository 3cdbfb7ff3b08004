import { tierRank } from "../domain/tiers.js";
import { type Condition, compileCondition } from "./condition.js";
import { policyError } from "./document.js";
import { roleGraphOf, satisfiersOf } from "./roles.js";
import type { Effect, PolicyDocument } from "./types.js";

/** A rule ready to evaluate: sets instead of lists, tiers as ranks, roles pre-expanded. */
export interface CompiledRule {
  /** `policy/rule`, as decisions name it. */
  readonly id: string;
  readonly effect: Effect;
  readonly resources: ReadonlySet<string> | undefined;
  readonly minTierRank: number;
  /** Every held role that satisfies the rule (the rule's roles and all roles inheriting them). */
  readonly satisfiedBy: ReadonlySet<string> | undefined;
  readonly condition: Condition | undefined;
  /** A condition error denies the request (onConditionError: deny); otherwise the rule is skipped. */
  readonly deniesOnError: boolean;
  /**
   * The last decision that looked at this rule. A rule can sit in several buckets (several
   * patterns covering one scope, several resource kinds); the stamp lets a decision visit it
   * once without allocating a set on the hot path. Decisions are synchronous, so it is safe.
   */
  visited: number;
}

/** Rules for one scope key: those for any resource kind, and those for specific kinds. */
export interface RuleBucket {
  readonly anyKind: CompiledRule[];
  readonly byKind: Map<string, CompiledRule[]>;
}

/**
 * Rules indexed by scope pattern shape and then resource kind, so a decision looks only at
 * rules that can match its scope and resource however many rules are loaded: exact scopes,
 * `domain:*`, `*:verb`, and `*`.
 */
export interface ScopeIndex {
  readonly exact: ReadonlyMap<string, RuleBucket>;
  readonly byDomain: ReadonlyMap<string, RuleBucket>;
  readonly byVerb: ReadonlyMap<string, RuleBucket>;
  readonly any: RuleBucket;
  readonly ruleCount: number;
}

function newBucket(): RuleBucket {
  return { anyKind: [], byKind: new Map() };
}

function add(bucket: RuleBucket, rule: CompiledRule): void {
  if (!rule.resources) {
    if (!bucket.anyKind.includes(rule)) bucket.anyKind.push(rule);
    return;
  }
  for (const kind of rule.resources) {
    const list = bucket.byKind.get(kind);
    if (!list) bucket.byKind.set(kind, [rule]);
    else if (!list.includes(rule)) list.push(rule);
  }
}

function bucketFor(map: Map<string, RuleBucket>, key: string): RuleBucket {
  let b = map.get(key);
  if (!b) {
    b = newBucket();
    map.set(key, b);
  }
  return b;
}

/**
 * A condition compiled on its first evaluation: documents were validated when they were put,
 * and CEL parsing costs ~0.2 ms an expression, so loading a large stored revision stays fast.
 * A condition that no longer compiles (it cannot, unless the CEL library changed) is an
 * evaluation error: its rule does not match.
 */
function lazyCondition(source: string): Condition {
  let compiled: Condition | undefined;
  return (input) => {
    if (!compiled) {
      try {
        compiled = compileCondition(source);
      } catch (err) {
        return { error: (err as Error).message };
      }
    }
    return compiled(input);
  };
}

/**
 * Compiles validated documents into a scope index. Throws POLICY_INVALID for what only the
 * whole set can reveal (duplicate policy names, role problems). Pure: runs beside the live revision.
 */
export function compileRules(documents: readonly PolicyDocument[]): ScopeIndex {
  const satisfiers = satisfiersOf(roleGraphOf(documents));
  const exact = new Map<string, RuleBucket>();
  const byDomain = new Map<string, RuleBucket>();
  const byVerb = new Map<string, RuleBucket>();
  const any = newBucket();
  const names = new Set<string>();
  let ruleCount = 0;
  for (const doc of documents) {
    if (names.has(doc.name))
      throw policyError(doc.file ?? doc.name, undefined, `two documents are named "${doc.name}"`);
    names.add(doc.name);
    for (const [i, spec] of doc.rules.entries()) {
      for (const r of spec.roles ?? []) {
        if (!satisfiers.has(r))
          throw policyError(doc.file ?? doc.name, doc.rulePosition?.(i), `unknown role "${r}"`, spec.name);
      }
      const condition = spec.condition === undefined ? undefined : lazyCondition(spec.condition);
      const rule: CompiledRule = {
        id: `${doc.name}/${spec.name}`,
        effect: spec.effect,
        resources: spec.resources && spec.resources.length > 0 ? new Set(spec.resources) : undefined,
        minTierRank: spec.minTier ? tierRank(spec.minTier) : 0,
        satisfiedBy: spec.roles
          ? new Set(spec.roles.flatMap((r) => [...(satisfiers.get(r) ?? [])]))
          : undefined,
        condition,
        deniesOnError: (spec.onConditionError ?? (spec.effect === "deny" ? "deny" : "skip")) === "deny",
        visited: 0,
      };
      ruleCount++;
      for (const pattern of spec.scopes) {
        const [domain = "*", verb = "*"] = pattern.split(":");
        if (domain === "*" && verb === "*") add(any, rule);
        else if (verb === "*") add(bucketFor(byDomain, domain), rule);
        else if (domain === "*") add(bucketFor(byVerb, verb), rule);
        else add(bucketFor(exact, pattern), rule);
      }
    }
  }
  return { exact, byDomain, byVerb, any, ruleCount };
}
