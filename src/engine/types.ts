import type { Tier } from "../domain/tiers.js";
import type { EvaluationBudget } from "./cel-budget.js";

export type Effect = "allow" | "deny";

/**
 * What a rule's condition failing to evaluate (a missing attribute, a type error, an exhausted
 * budget) means: `deny` denies the request, as a matching deny rule would; `skip` ignores the
 * rule. An error never allows.
 */
export type OnConditionError = "deny" | "skip";

/** Where something was written, for error messages. */
export interface Position {
  readonly line: number;
  readonly column: number;
}

/** One rule of a policy document, as written. */
export interface RuleSpec {
  readonly name: string;
  /** A CEL expression over principal, resource, context and now; the rule matches only when it is true. */
  readonly condition?: string | undefined;
  readonly scopes: readonly string[];
  readonly resources?: readonly string[] | undefined;
  readonly effect: Effect;
  readonly minTier?: Tier | undefined;
  readonly roles?: readonly string[] | undefined;
  /** Default: `deny` for a deny rule (failing open there is a trap), `skip` for an allow rule. */
  readonly onConditionError?: OnConditionError | undefined;
}

/** A custom role and the roles it inherits (may do everything they may). */
export interface RoleSpec {
  readonly inherits: readonly string[];
}

/** An HTTP method a route may name. */
export type HttpMethod =
  | "GET"
  | "HEAD"
  | "POST"
  | "PUT"
  | "PATCH"
  | "DELETE"
  | "OPTIONS"
  | "CONNECT"
  | "TRACE";

/**
 * Decide and mint on a route (issue #12): with an ALLOW, the PEP's answer carries a token for
 * the downstream hop. Both fields optional: the server's default lifetime and its audience.
 */
export interface RouteMintSpec {
  /** Seconds; cut to the server's maximum and to the subject token's own expiry. */
  readonly ttlSeconds?: number | undefined;
  readonly audience?: string | undefined;
}

/** One route of a RouteMap, as written (validated). */
export interface RouteSpec {
  readonly methods: readonly HttpMethod[];
  /** The path template: `/todos/{id}`; placeholders are whole segments. */
  readonly path: string;
  /** The concrete scope a matching request asks for. */
  readonly scope: string;
  readonly resource: {
    readonly kind: string;
    /** A template over the path's placeholders (`{id}`, `todo-{id}`); absent: "". */
    readonly id?: string | undefined;
  };
  /** Mint a downstream token with an ALLOW of this route (overrides the map's `mint`). */
  readonly mint?: RouteMintSpec | undefined;
}

/** The spec of a `kind: RouteMap` document: HTTP requests to the scope and resource they ask for. */
export interface RouteMapSpec {
  /** Exact host names or `*.suffix` wildcards; absent: every host. */
  readonly hosts?: readonly string[] | undefined;
  readonly routes: readonly RouteSpec[];
  /** Mint a downstream token with an ALLOW of any of this map's routes (a route's own `mint` wins). */
  readonly mint?: RouteMintSpec | undefined;
  /** What a request for one of the hosts that no route matches gets. */
  readonly default: Effect;
}

/** The kinds of document a policy set holds. */
export type DocumentKind = "Policy" | "RouteMap";

/** A parsed and validated `kind: Policy` or `kind: RouteMap` document (a RouteMap has no rules). */
export interface PolicyDocument {
  readonly name: string;
  /** Absent: Policy. */
  readonly kind?: DocumentKind | undefined;
  readonly rules: readonly RuleSpec[];
  /** For a RouteMap: its routes. */
  readonly routeMap?: RouteMapSpec | undefined;
  /** Where route `i` of a RouteMap is written (computed on demand, for errors only the whole set reveals). */
  readonly routePosition?: ((index: number) => Position | undefined) | undefined;
  /** Custom roles this document defines (org-wide once applied). */
  readonly roles?: ReadonlyMap<string, RoleSpec> | undefined;
  /** The file (or request) the document came from. */
  readonly file?: string | undefined;
  /** Where rule `i` is written (computed on demand, for errors only the whole set reveals). */
  readonly rulePosition?: ((index: number) => Position | undefined) | undefined;
  /** Where a custom role is defined (computed on demand). */
  readonly rolePosition?: ((name: string) => Position | undefined) | undefined;
}

/** Who is asking, as the engine sees it. */
export interface Subject {
  readonly id: string;
  /**
   * The org the subject belongs to, as `principal.org` shows it: a token's org, which differs
   * from the deciding org for a token of an org it trusts. Unset: the deciding org.
   */
  readonly org?: string | undefined;
  readonly tier: Tier;
  readonly roles: readonly string[];
  /** When defined, the scope asked about must be covered by one of these. */
  readonly scopes?: readonly string[] | undefined;
  readonly tags: readonly string[];
  readonly attr: Readonly<Record<string, unknown>>;
  /** Typed grants a token carries (room, role, tunnel_ports, api), visible to conditions. */
  readonly grants?: Readonly<Record<string, unknown>> | undefined;
  /**
   * The delegation chain of a minted token, nearest minter first (`principal.act` in
   * conditions); empty for a principal acting as itself.
   */
  readonly act?: readonly string[] | undefined;
}

export interface ResourceRef {
  readonly kind: string;
  readonly id: string;
  readonly attr: Readonly<Record<string, unknown>>;
}

/** The question Authorize asks the engine. */
export interface AuthzQuery {
  readonly subject: Subject;
  readonly scope: string;
  readonly resource?: ResourceRef | undefined;
  readonly context?: Readonly<Record<string, unknown>> | undefined;
  /** Ask for the trace of every candidate rule. */
  readonly explain?: boolean | undefined;
  /**
   * The CEL budget this decision's conditions draw on. Give one shared budget to every
   * decision of one request (a batch), so a request, not each decision, is bounded. Absent:
   * a fresh budget for this decision.
   */
  readonly budget?: EvaluationBudget | undefined;
}

/**
 * NO_ROUTE: an HTTP request no RouteMap route matched (decided by the maps' default, no rule).
 * AGENT_SUSPENDED: the AuthZEN subject is a suspended agent of the org, denied before any rule.
 */
export type DecisionReason =
  | "ALLOWED_BY_RULE"
  | "DENIED_BY_RULE"
  | "NO_MATCHING_RULE"
  | "SCOPE_NOT_GRANTED"
  | "NO_ROUTE"
  | "AGENT_SUSPENDED";

/** Why a candidate rule (one whose scope covers the query's) did or did not match. */
export type RuleOutcome =
  | "MATCHED"
  | "RESOURCE_MISMATCH"
  | "TIER_TOO_LOW"
  | "ROLE_MISSING"
  | "CONDITION_FALSE"
  | "CONDITION_ERROR";

/** One line of an explanation. */
export interface RuleTrace {
  readonly rule: string;
  readonly effect: Effect;
  readonly outcome: RuleOutcome;
  /** For CONDITION_ERROR: what went wrong while evaluating. */
  readonly error?: string | undefined;
}

/** The engine's answer; a deny is an answer, not an error. */
export interface Decision {
  readonly allow: boolean;
  readonly reason: DecisionReason;
  /** `policy/rule` of the deciding rule, or "" when none decided. */
  readonly rule: string;
  readonly revision: number;
  /** With `explain`: every candidate rule and its outcome. */
  readonly explanation?: readonly RuleTrace[] | undefined;
}

/** What the engine needs from storage (the store implements it). */
export interface PolicySource {
  /**
   * Every org's stored policy documents with the org's current revision and, when known, the
   * digest of that document set (an opaque string the engine keeps beside the compiled revision).
   */
  loadAll():
    | Iterable<{ orgId: string; revision: number; documents: readonly string[]; digest?: string }>
    | Promise<Iterable<{ orgId: string; revision: number; documents: readonly string[]; digest?: string }>>;
}
