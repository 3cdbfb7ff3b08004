import { anyScopeMatches } from "../domain/scopes.js";
import { tierRank } from "../domain/tiers.js";
import type { CompiledRule, ScopeIndex } from "./compile.js";
import type { AuthzQuery, Decision } from "./types.js";

const NONE: readonly CompiledRule[] = [];

function ruleMatches(rule: CompiledRule, query: AuthzQuery, rank: number): boolean {
  if (rule.resources && !(query.resource && rule.resources.has(query.resource.kind))) return false;
  if (rank < rule.minTierRank) return false;
  if (rule.satisfiedBy) {
    const held = query.subject.roles;
    let ok = false;
    for (let i = 0; i < held.length && !ok; i++) ok = rule.satisfiedBy.has(held[i] as string);
    if (!ok) return false;
  }
  return true;
}

/**
 * Decides a query against one compiled revision. Deny overrides allow; no matching rule
 * denies with NO_MATCHING_RULE; a subject that carries scopes must hold the one asked about.
 */
export function decide(index: ScopeIndex, revision: number, query: AuthzQuery): Decision {
  const { subject, scope } = query;
  if (subject.scopes !== undefined && !anyScopeMatches(subject.scopes, scope)) {
    return { allow: false, reason: "SCOPE_NOT_GRANTED", rule: "", revision };
  }
  const colon = scope.indexOf(":");
  const candidates = [
    index.exact.get(scope) ?? NONE,
    index.byDomain.get(scope.slice(0, colon)) ?? NONE,
    index.byVerb.get(scope.slice(colon + 1)) ?? NONE,
    index.any,
  ];
  const rank = tierRank(subject.tier);
  let allowedBy: CompiledRule | undefined;
  for (const list of candidates) {
    for (const rule of list) {
      if (!ruleMatches(rule, query, rank)) continue;
      if (rule.effect === "deny") return { allow: false, reason: "DENIED_BY_RULE", rule: rule.id, revision };
      allowedBy ??= rule;
    }
  }
  if (allowedBy) return { allow: true, reason: "ALLOWED_BY_RULE", rule: allowedBy.id, revision };
  return { allow: false, reason: "NO_MATCHING_RULE", rule: "", revision };
}
