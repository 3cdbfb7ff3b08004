import { DEFAULT_ROLES, type RoleGraph, roleClosure } from "../domain/roles.js";
import { policyError } from "./document.js";
import type { PolicyDocument } from "./types.js";

/**
 * The org-wide role graph of a set of documents: the defaults plus every custom role.
 * Throws POLICY_INVALID for a role defined twice differently, an inherited role that does
 * not exist, or an inheritance cycle.
 */
export function roleGraphOf(documents: readonly PolicyDocument[]): RoleGraph {
  const graph = new Map<string, readonly string[]>(DEFAULT_ROLES);
  const definedIn = new Map<string, PolicyDocument>();
  for (const doc of documents) {
    for (const [name, spec] of doc.roles ?? []) {
      const file = doc.file ?? doc.name;
      if (DEFAULT_ROLES.has(name))
        throw policyError(
          file,
          doc.rolePosition?.(name),
          `role "${name}" is built in and cannot be redefined`,
        );
      const previous = definedIn.get(name);
      if (previous && JSON.stringify(graph.get(name)) !== JSON.stringify(spec.inherits)) {
        throw policyError(
          file,
          doc.rolePosition?.(name),
          `role "${name}" is also defined, differently, in policy "${previous.name}"`,
        );
      }
      definedIn.set(name, doc);
      graph.set(name, spec.inherits);
    }
  }
  for (const doc of documents) {
    for (const [name, spec] of doc.roles ?? []) {
      for (const parent of spec.inherits) {
        if (!graph.has(parent))
          throw policyError(
            doc.file ?? doc.name,
            doc.rolePosition?.(name),
            `role "${name}" inherits unknown role "${parent}"`,
          );
      }
    }
  }
  assertAcyclic(graph, documents);
  return graph;
}

function assertAcyclic(graph: RoleGraph, documents: readonly PolicyDocument[]): void {
  const state = new Map<string, "visiting" | "done">();
  const visit = (role: string, path: string[]): void => {
    if (state.get(role) === "done") return;
    if (state.get(role) === "visiting") {
      const doc = documents.find((d) => d.roles?.has(role));
      const cycle = [...path.slice(path.indexOf(role)), role].join(" → ");
      throw policyError(
        doc?.file ?? doc?.name ?? "<roles>",
        doc?.rolePosition?.(role),
        `role inheritance cycle: ${cycle}`,
      );
    }
    state.set(role, "visiting");
    for (const parent of graph.get(role) ?? []) visit(parent, [...path, role]);
    state.set(role, "done");
  };
  for (const role of graph.keys()) visit(role, []);
}

/** Role → every role that satisfies it (itself and all roles that inherit it, transitively). */
export function satisfiersOf(graph: RoleGraph): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const [holder, implied] of roleClosure(graph)) {
    for (const role of implied) {
      const set = out.get(role) ?? new Set<string>();
      set.add(holder);
      out.set(role, set);
    }
  }
  return out;
}
