import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { anyScopeMatches } from "../domain/scopes.js";
import { tierRank } from "../domain/tiers.js";
import type { CompiledRule, RuleBucket, ScopeIndex } from "./compile.js";
import type { ConditionInput } from "./condition.js";
import type { AuthzQuery, Decision, RuleOutcome, RuleTrace } from "./types.js";

/** Per-decision state, built lazily: most decisions never need the CEL bindings. */
interface Evaluation {
  readonly query: AuthzQuery;
  readonly orgId: string;
  readonly nowMs: number;
  readonly rank: number;
  bindings?: ConditionInput;
  /** The last condition error seen, for the explanation. */
  error?: string | undefined;
}

function bindingsOf(e: Evaluation): ConditionInput {
  if (!e.bindings) {
    const { subject, resource, context } = e.query;
    e.bindings = {
      principal: {
        id: subject.id,
        org: e.orgId,
        tier: subject.tier,
        roles: subject.roles,
        scopes: subject.scopes ?? [],
        tags: subject.tags,
        grants: subject.grants ?? {},
        attr: subject.attr,
      },
      resource: resource
        ? { kind: resource.kind, id: resource.id, attr: resource.attr }
        : { kind: "", id: "", attr: {} },
      context: context ?? {},
      now: timestampFromMs(e.nowMs),
    };
  }
  return e.bindings;
}

function outcomeOf(rule: CompiledRule, e: Evaluation): RuleOutcome {
  const { resource, subject } = e.query;
  if (rule.resources && !(resource && rule.resources.has(resource.kind))) return "RESOURCE_MISMATCH";
  if (e.rank < rule.minTierRank) return "TIER_TOO_LOW";
  if (rule.satisfiedBy) {
    let ok = false;
    for (let i = 0; i < subject.roles.length && !ok; i++)
      ok = rule.satisfiedBy.has(subject.roles[i] as string);
    if (!ok) return "ROLE_MISSING";
  }
  if (rule.condition) {
    const result = rule.condition(bindingsOf(e));
    if (result === false) return "CONDITION_FALSE";
    if (result !== true) {
      e.error = result.error;
      return "CONDITION_ERROR";
    }
  }
  return "MATCHED";
}

/** The buckets whose scope key covers `scope`: exact, `domain:*`, `*:verb`, `*`. */
function bucketsFor(index: ScopeIndex, scope: string): RuleBucket[] {
  const colon = scope.indexOf(":");
  const out: RuleBucket[] = [];
  for (const b of [
    index.exact.get(scope),
    index.byDomain.get(scope.slice(0, colon)),
    index.byVerb.get(scope.slice(colon + 1)),
    index.any,
  ]) {
    if (b) out.push(b);
  }
  return out;
}

const NONE: readonly CompiledRule[] = [];

/** Increments per decision; see CompiledRule.visited. */
let decisionStamp = 0;

/**
 * Decides a query against one compiled revision. Deny overrides allow; no matching rule
 * denies with NO_MATCHING_RULE; a subject that carries scopes must hold the one asked about.
 * A condition that errors makes its rule not match: it never allows and never throws.
 */
export function decide(
  index: ScopeIndex,
  revision: number,
  orgId: string,
  query: AuthzQuery,
  nowMs: number,
): Decision {
  const { subject, scope } = query;
  if (subject.scopes !== undefined && !anyScopeMatches(subject.scopes, scope)) {
    return {
      allow: false,
      reason: "SCOPE_NOT_GRANTED",
      rule: "",
      revision,
      explanation: query.explain ? [] : undefined,
    };
  }
  const e: Evaluation = { query, orgId, nowMs, rank: tierRank(subject.tier) };
  const stamp = ++decisionStamp;
  const trace: RuleTrace[] | undefined = query.explain ? [] : undefined;
  const kind = query.resource?.kind;
  let allowedBy: CompiledRule | undefined;
  let deniedBy: CompiledRule | undefined;
  for (const bucket of bucketsFor(index, scope)) {
    const lists = [bucket.anyKind, kind !== undefined ? (bucket.byKind.get(kind) ?? NONE) : NONE];
    if (trace) for (const [k, rules] of bucket.byKind) if (k !== kind) lists.push(rules);
    for (const list of lists) {
      for (const rule of list) {
        if (rule.visited === stamp) continue;
        rule.visited = stamp;
        e.error = undefined;
        const outcome = outcomeOf(rule, e);
        trace?.push({ rule: rule.id, effect: rule.effect, outcome, ...(e.error ? { error: e.error } : {}) });
        if (outcome !== "MATCHED") continue;
        if (rule.effect === "deny") {
          deniedBy ??= rule;
          if (!trace) return { allow: false, reason: "DENIED_BY_RULE", rule: rule.id, revision };
        } else allowedBy ??= rule;
      }
    }
  }
  if (deniedBy)
    return { allow: false, reason: "DENIED_BY_RULE", rule: deniedBy.id, revision, explanation: trace };
  if (allowedBy)
    return { allow: true, reason: "ALLOWED_BY_RULE", rule: allowedBy.id, revision, explanation: trace };
  return { allow: false, reason: "NO_MATCHING_RULE", rule: "", revision, explanation: trace };
}
