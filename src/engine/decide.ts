import type { CelMap } from "@bufbuild/cel";
import { type Timestamp, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { anyScopeMatches } from "../domain/scopes.js";
import { tierRank } from "../domain/tiers.js";
import { CEL_LIMITS, type EvaluationBudget } from "./cel-budget.js";
import { celObject } from "./cel-object.js";
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

const NO_RESOURCE = { kind: "", id: "", attr: {} };
const NO_ACTORS: readonly string[] = [];

/**
 * What conditions see, built once per decision that reaches a condition: each variable a
 * zero-copy CEL map view, and `now` only made when a condition reads it.
 */
class Bindings implements ConditionInput {
  readonly principal: CelMap;
  readonly resource: CelMap;
  readonly context: CelMap;
  readonly budget: EvaluationBudget;
  /** This decision's own budget, when the query brings none (no object allocated for it). */
  steps: number = CEL_LIMITS.decisionSteps;
  private nowTimestamp: Timestamp | undefined;

  private readonly nowMs: number;

  constructor(e: Evaluation) {
    const { subject, resource, context } = e.query;
    this.nowMs = e.nowMs;
    this.principal = celObject({
      id: subject.id,
      org: subject.org ?? e.orgId,
      tier: subject.tier,
      roles: subject.roles,
      scopes: subject.scopes ?? [],
      tags: subject.tags,
      grants: subject.grants ?? {},
      act: subject.act ?? NO_ACTORS,
      attr: subject.attr,
    });
    this.resource = celObject(
      resource ? { kind: resource.kind, id: resource.id, attr: resource.attr } : NO_RESOURCE,
    );
    this.context = celObject(context ?? {});
    this.budget = e.query.budget ?? this;
  }

  get now(): Timestamp {
    this.nowTimestamp ??= timestampFromMs(this.nowMs);
    return this.nowTimestamp;
  }
}

function bindingsOf(e: Evaluation): ConditionInput {
  e.bindings ??= new Bindings(e);
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

const NONE: readonly CompiledRule[] = [];

/** Increments per decision; see CompiledRule.visited. */
let decisionStamp = 0;

/** One decision's scan over its candidate rules. */
interface Scan {
  readonly e: Evaluation;
  readonly stamp: number;
  readonly trace: RuleTrace[] | undefined;
  allowedBy: CompiledRule | undefined;
  deniedBy: CompiledRule | undefined;
}

/** Visits a list of rules; true when a deny settled the decision and nothing needs tracing. */
function scanRules(s: Scan, rules: readonly CompiledRule[]): boolean {
  for (const rule of rules) {
    if (rule.visited === s.stamp) continue;
    rule.visited = s.stamp;
    s.e.error = undefined;
    const outcome = outcomeOf(rule, s.e);
    s.trace?.push({
      rule: rule.id,
      effect: rule.effect,
      outcome,
      ...(s.e.error ? { error: s.e.error } : {}),
    });
    // A condition error denies where the rule says so (a deny rule, by default); it never allows.
    const denies =
      outcome === "MATCHED" ? rule.effect === "deny" : outcome === "CONDITION_ERROR" && rule.deniesOnError;
    if (denies) {
      s.deniedBy ??= rule;
      if (!s.trace) return true;
    } else if (outcome === "MATCHED") s.allowedBy ??= rule;
  }
  return false;
}

/** Visits a bucket: its any-kind rules, the request's kind; with a trace, every other kind too. */
function scanBucket(s: Scan, bucket: RuleBucket | undefined, kind: string | undefined): boolean {
  if (!bucket) return false;
  if (scanRules(s, bucket.anyKind)) return true;
  if (kind !== undefined && scanRules(s, bucket.byKind.get(kind) ?? NONE)) return true;
  if (s.trace) for (const [k, rules] of bucket.byKind) if (k !== kind) scanRules(s, rules);
  return false;
}

/**
 * Decides a query against one compiled revision. Deny overrides allow; no matching rule
 * denies with NO_MATCHING_RULE; a subject that carries scopes must hold the one asked about.
 * A condition that errors never allows and never throws: it denies when the rule's
 * onConditionError is deny (the default for a deny rule), and otherwise the rule is skipped.
 * Candidates come from the buckets whose scope key covers the scope: exact, `domain:*`,
 * `*:verb`, `*`.
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
  const trace: RuleTrace[] | undefined = query.explain ? [] : undefined;
  const s: Scan = {
    e: { query, orgId, nowMs, rank: tierRank(subject.tier) },
    stamp: ++decisionStamp,
    trace,
    allowedBy: undefined,
    deniedBy: undefined,
  };
  const kind = query.resource?.kind;
  const colon = scope.indexOf(":");
  // Each scan returns true when a deny has settled the decision: the later buckets are skipped.
  if (
    !scanBucket(s, index.exact.get(scope), kind) &&
    !scanBucket(s, index.byDomain.get(scope.slice(0, colon)), kind) &&
    !scanBucket(s, index.byVerb.get(scope.slice(colon + 1)), kind)
  )
    scanBucket(s, index.any, kind);
  if (s.deniedBy)
    return { allow: false, reason: "DENIED_BY_RULE", rule: s.deniedBy.id, revision, explanation: trace };
  if (s.allowedBy)
    return { allow: true, reason: "ALLOWED_BY_RULE", rule: s.allowedBy.id, revision, explanation: trace };
  return { allow: false, reason: "NO_MATCHING_RULE", rule: "", revision, explanation: trace };
}
