import type { Tier } from "../domain/tiers.js";

export type Effect = "allow" | "deny";

/** One rule of a policy document, as written. */
export interface RuleSpec {
  readonly name: string;
  readonly scopes: readonly string[];
  readonly resources?: readonly string[] | undefined;
  readonly effect: Effect;
  readonly minTier?: Tier | undefined;
  readonly roles?: readonly string[] | undefined;
}

/** A parsed and validated `kind: Policy` document. */
export interface PolicyDocument {
  readonly name: string;
  readonly rules: readonly RuleSpec[];
}

/** Who is asking, as the engine sees it. */
export interface Subject {
  readonly id: string;
  readonly tier: Tier;
  readonly roles: readonly string[];
  /** When defined, the scope asked about must be covered by one of these. */
  readonly scopes?: readonly string[] | undefined;
  readonly tags: readonly string[];
  readonly attr: Readonly<Record<string, unknown>>;
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
}

export type DecisionReason = "ALLOWED_BY_RULE" | "DENIED_BY_RULE" | "NO_MATCHING_RULE" | "SCOPE_NOT_GRANTED";

/** The engine's answer; a deny is an answer, not an error. */
export interface Decision {
  readonly allow: boolean;
  readonly reason: DecisionReason;
  /** `policy/rule` of the deciding rule, or "" when none decided. */
  readonly rule: string;
  readonly revision: number;
}

/** What the engine needs from storage (the store implements it). */
export interface PolicySource {
  /** Every org's stored policy documents with the org's current revision. */
  loadAll(): Iterable<{ orgId: string; revision: number; documents: readonly string[] }>;
}
