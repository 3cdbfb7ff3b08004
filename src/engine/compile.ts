import { DEFAULT_ROLES, roleClosure } from "../domain/roles.js";
import { tierRank } from "../domain/tiers.js";
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
}

/**
 * Rules indexed by scope pattern shape, so a decision only looks at rules that can match
 * its scope however many rules are loaded: exact scopes, `domain:*`, `*:verb`, and `*`.
 */
export interface ScopeIndex {
  readonly exact: ReadonlyMap<string, readonly CompiledRule[]>;
  readonly byDomain: ReadonlyMap<string, readonly CompiledRule[]>;
  readonly byVerb: ReadonlyMap<string, readonly CompiledRule[]>;
  readonly any: readonly CompiledRule[];
}

/** Inverse of the role closure: role → every role that satisfies it. */
function satisfiers(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const [holder, implied] of roleClosure(DEFAULT_ROLES)) {
    for (const role of implied) {
      const set = out.get(role) ?? new Set<string>();
      set.add(holder);
      out.set(role, set);
    }
  }
  return out;
}

function push(map: Map<string, CompiledRule[]>, key: string, rule: CompiledRule): void {
  const list = map.get(key);
  if (list) {
    if (!list.includes(rule)) list.push(rule);
  } else map.set(key, [rule]);
}

/** Compiles validated documents into a scope index. Pure; safe to run beside the live revision. */
export function compileRules(documents: readonly PolicyDocument[]): ScopeIndex {
  const inverse = satisfiers();
  const exact = new Map<string, CompiledRule[]>();
  const byDomain = new Map<string, CompiledRule[]>();
  const byVerb = new Map<string, CompiledRule[]>();
  const any: CompiledRule[] = [];
  for (const doc of documents) {
    for (const spec of doc.rules) {
      const rule: CompiledRule = {
        id: `${doc.name}/${spec.name}`,
        effect: spec.effect,
        resources: spec.resources ? new Set(spec.resources) : undefined,
        minTierRank: spec.minTier ? tierRank(spec.minTier) : 0,
        satisfiedBy: spec.roles
          ? new Set(spec.roles.flatMap((r) => [...(inverse.get(r) ?? [r])]))
          : undefined,
      };
      for (const pattern of spec.scopes) {
        const [domain = "*", verb = "*"] = pattern.split(":");
        if (domain === "*" && verb === "*") {
          if (!any.includes(rule)) any.push(rule);
        } else if (verb === "*") push(byDomain, domain, rule);
        else if (domain === "*") push(byVerb, verb, rule);
        else push(exact, pattern, rule);
      }
    }
  }
  return { exact, byDomain, byVerb, any };
}
