/**
 * Scopes are `domain:verb` strings (`governance:propose`); in patterns, `*` stands for
 * one whole segment (`governance:*`), and a lone `*` for every scope.
 */
const SEGMENT = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

/** True when `scope` is a concrete scope (no wildcards), as asked about in Authorize. */
export function isScope(scope: string): boolean {
  const parts = scope.split(":");
  return parts.length === 2 && parts.every((p) => SEGMENT.test(p));
}

/** True when `pattern` is a valid scope pattern (segments may be `*`, or the whole is `*`). */
export function isScopePattern(pattern: string): boolean {
  if (pattern === "*") return true;
  const parts = pattern.split(":");
  return parts.length === 2 && parts.every((p) => p === "*" || SEGMENT.test(p));
}

/** True when the concrete `scope` is covered by `pattern`. */
export function scopeMatches(pattern: string, scope: string): boolean {
  if (pattern === "*" || pattern === scope) return true;
  const colon = pattern.indexOf(":");
  const sColon = scope.indexOf(":");
  if (colon < 0 || sColon < 0) return false;
  const pd = pattern.slice(0, colon);
  const pv = pattern.slice(colon + 1);
  return (pd === "*" || pd === scope.slice(0, sColon)) && (pv === "*" || pv === scope.slice(sColon + 1));
}

/** True when any of `patterns` covers `scope`. */
export function anyScopeMatches(patterns: readonly string[], scope: string): boolean {
  for (const p of patterns) if (scopeMatches(p, scope)) return true;
  return false;
}
