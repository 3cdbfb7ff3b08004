/**
 * Role hierarchy. A role "inherits" another when it may do everything the other may:
 * by default admin inherits operator, which inherits viewer. Orgs may add roles later;
 * the hierarchy is a DAG given as role → roles it inherits.
 */
export type RoleGraph = ReadonlyMap<string, readonly string[]>;

export const DEFAULT_ROLES: RoleGraph = new Map([
  ["viewer", []],
  ["operator", ["viewer"]],
  ["admin", ["operator"]],
]);

const ROLE_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

/** True when `name` is a syntactically valid role name. */
export function isRoleName(name: string): boolean {
  return ROLE_NAME.test(name);
}

/**
 * For every role, the set of roles it satisfies (itself and everything it inherits,
 * transitively). Computed once per policy revision so a decision is a set lookup.
 */
export function roleClosure(graph: RoleGraph): ReadonlyMap<string, ReadonlySet<string>> {
  const closure = new Map<string, Set<string>>();
  const visit = (role: string, seen: Set<string>): void => {
    if (seen.has(role)) return;
    seen.add(role);
    for (const parent of graph.get(role) ?? []) visit(parent, seen);
  };
  for (const role of graph.keys()) {
    const seen = new Set<string>();
    visit(role, seen);
    closure.set(role, seen);
  }
  return closure;
}

/** The roles a principal satisfies, given the roles it holds. Unknown roles satisfy only themselves. */
export function effectiveRoles(
  held: readonly string[],
  closure: ReadonlyMap<string, ReadonlySet<string>>,
): Set<string> {
  const out = new Set<string>();
  for (const role of held) {
    const implied = closure.get(role);
    if (implied) for (const r of implied) out.add(r);
    else out.add(role);
  }
  return out;
}
