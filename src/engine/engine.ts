import { compileRules, type ScopeIndex } from "./compile.js";
import { decide } from "./decide.js";
import { parseDocumentSet } from "./document.js";
import {
  compileRoutes,
  type HttpRequest,
  type RouteResult,
  type RouteTable,
  routeRequest,
} from "./routes.js";
import type { AuthzQuery, Decision, PolicyDocument, PolicySource } from "./types.js";

/** An HTTP request to route, then decide: Authorize's question with a request instead of a scope and resource. */
export interface HttpAuthzQuery extends Omit<AuthzQuery, "scope" | "resource"> {
  readonly http: HttpRequest;
  /** Attributes of the resource the route names (its kind and id come from the route). */
  readonly resourceAttr?: Readonly<Record<string, unknown>> | undefined;
}

/** A routed decision, and the route it took (or why there was none: the maps' default, NO_ROUTE). */
export interface HttpDecision {
  readonly decision: Decision;
  readonly route: RouteResult;
}

/** One org's policies compiled at one revision. */
export interface CompiledRevision {
  readonly number: number;
  readonly index: ScopeIndex;
  /** The org's RouteMaps as one trie. */
  readonly routes: RouteTable;
  readonly documents: readonly PolicyDocument[];
  /** The digest of the stored document set it was compiled from ("" when not from the store). */
  readonly digest: string;
}

const EMPTY: CompiledRevision = compileRevision(0, [], "");

/** Compiles a document set: its rules into the scope index, its RouteMaps into the route trie. */
function compileRevision(revision: number, documents: readonly PolicyDocument[], digest: string) {
  return {
    number: revision,
    index: compileRules(documents),
    routes: compileRoutes(documents),
    documents,
    digest,
  };
}

/**
 * The policy decision point: one compiled revision per org, swapped atomically when a
 * new revision is compiled, so the old one serves until the new one is ready.
 */
export class PolicyEngine {
  private readonly revisions = new Map<string, CompiledRevision>();

  constructor(private readonly now: () => Date = () => new Date()) {}

  /** Compiles every org's stored policies (at start). Throws if a stored document no longer compiles. */
  async loadFrom(source: PolicySource): Promise<void> {
    for (const { orgId, revision, documents, digest } of await source.loadAll()) {
      this.install(orgId, revision, parseStored(orgId, documents), digest);
    }
  }

  /** Compiles a candidate set without installing it (validate, test, and the first half of install). */
  static compile(revision: number, documents: readonly PolicyDocument[], digest = ""): CompiledRevision {
    return compileRevision(revision, documents, digest);
  }

  /** Makes `documents` the org's policy at `revision`. */
  install(orgId: string, revision: number, documents: readonly PolicyDocument[], digest = ""): void {
    this.installCompiled(orgId, PolicyEngine.compile(revision, documents, digest));
  }

  /** Swaps in an already compiled revision. */
  installCompiled(orgId: string, compiled: CompiledRevision): void {
    this.revisions.set(orgId, compiled);
  }

  /**
   * Swaps in a compiled revision unless the one in force is newer, or is the same revision
   * compiled from the same documents; true when it did. Writers and the sync loop both install
   * revisions; this keeps a late one from replacing a newer one.
   */
  installNewer(orgId: string, compiled: CompiledRevision): boolean {
    const current = this.current(orgId);
    if (compiled.number < current.number) return false;
    if (compiled.number === current.number && compiled.digest === current.digest) return false;
    this.revisions.set(orgId, compiled);
    return true;
  }

  /** The org's revision in force (its number is 0 when it has no policy). */
  current(orgId: string): CompiledRevision {
    return this.revisions.get(orgId) ?? EMPTY;
  }

  /** The org's revision number in force (0 when it has no policy). */
  revision(orgId: string): number {
    return this.current(orgId).number;
  }

  /**
   * Routes an HTTP request through the org's RouteMaps: the scope and resource it asks for (then
   * `decide` them), or no route and what the maps say to do then. Pure and synchronous.
   */
  route(orgId: string, req: HttpRequest): RouteResult {
    return routeRequest(this.current(orgId).routes, req);
  }

  /** Routes an HTTP request, then decides it (see decideHttpWith). Pure and synchronous. */
  decideHttp(orgId: string, query: HttpAuthzQuery): HttpDecision {
    return decideHttpWith(this.current(orgId), orgId, query, this.now().getTime());
  }

  /** Decides a query for an org. Pure and synchronous: no I/O on this path. */
  decide(orgId: string, query: AuthzQuery): Decision {
    return decideWith(this.current(orgId), orgId, query, this.now().getTime());
  }
}

/** Parses an org's stored documents: validated when they were put, so their conditions compile on first use. */
export function parseStored(orgId: string, documents: readonly string[]): PolicyDocument[] {
  return parseDocumentSet(
    documents.map((text, i) => ({ text, file: `stored:${orgId}:${i}` })),
    { checkConditions: false },
  );
}

/** Decides against a given compiled revision (used for candidate sets in policy tests). */
export function decideWith(rev: CompiledRevision, orgId: string, query: AuthzQuery, nowMs: number): Decision {
  return decide(rev.index, rev.number, orgId, query, nowMs);
}

/**
 * Routes an HTTP request through a revision's RouteMaps, then decides the scope and resource
 * the route names, with `context.http` = {method, host, path (without the query), query,
 * params} beside the caller's context. No route: the maps' default, reason NO_ROUTE, no rule.
 */
export function decideHttpWith(
  rev: CompiledRevision,
  orgId: string,
  query: HttpAuthzQuery,
  nowMs: number,
): HttpDecision {
  const req = query.http;
  const route = routeRequest(rev.routes, req);
  if (route.noRoute) {
    const allow = route.default === "allow";
    return { route, decision: { allow, reason: "NO_ROUTE", rule: "", revision: rev.number } };
  }
  const q = req.path.indexOf("?");
  const http = {
    method: req.method,
    host: req.host ?? "",
    path: q < 0 ? req.path : req.path.slice(0, q),
    query: route.query,
    params: route.params,
  };
  // Written out, not rest/spread: a query built by `...rest` is a slow-mode object to every
  // property read after it, which cost a routed decision four times an Authorize's (bench).
  const decision = decideWith(
    rev,
    orgId,
    {
      subject: query.subject,
      scope: route.scope,
      resource: { kind: route.resource.kind, id: route.resource.id, attr: query.resourceAttr ?? {} },
      context: query.context ? { ...query.context, http } : { http },
      explain: query.explain,
      budget: query.budget,
    },
    nowMs,
  );
  return { route, decision };
}
