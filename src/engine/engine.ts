import { compileRules, type ScopeIndex } from "./compile.js";
import { decide } from "./decide.js";
import { parsePolicyDocuments } from "./document.js";
import type { AuthzQuery, Decision, PolicyDocument, PolicySource } from "./types.js";

interface Revision {
  readonly number: number;
  readonly index: ScopeIndex;
}

const EMPTY: Revision = { number: 0, index: compileRules([]) };

/**
 * The policy decision point: one compiled revision per org, swapped atomically when a
 * new revision is compiled, so the old one serves until the new one is ready.
 */
export class PolicyEngine {
  private readonly revisions = new Map<string, Revision>();

  /** Compiles every org's stored policies (at start). Throws if a stored document no longer compiles. */
  loadFrom(source: PolicySource): void {
    for (const { orgId, revision, documents } of source.loadAll()) {
      const docs = documents.flatMap((text, i) => parsePolicyDocuments(text, `stored:${orgId}:${i}`));
      this.install(orgId, revision, docs);
    }
  }

  /** Makes `documents` the org's policy at `revision`. */
  install(orgId: string, revision: number, documents: readonly PolicyDocument[]): void {
    this.revisions.set(orgId, { number: revision, index: compileRules(documents) });
  }

  /** The org's revision in force (0 when it has no policy). */
  revision(orgId: string): number {
    return (this.revisions.get(orgId) ?? EMPTY).number;
  }

  /** Decides a query for an org. Pure and synchronous: no I/O on this path. */
  decide(orgId: string, query: AuthzQuery): Decision {
    const rev = this.revisions.get(orgId) ?? EMPTY;
    return decide(rev.index, rev.number, query);
  }
}
