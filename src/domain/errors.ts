/**
 * The closed set of reasons Tessera gives for refusing a call. Domain code throws
 * `TesseraError` with one of these; `rpc/errors.ts` is the only place that maps them to
 * gRPC/Connect status codes. Clients match on the reason, never on the message.
 */
export const ERROR_KINDS = {
  // INVALID_ARGUMENT: the request itself is malformed.
  REQUEST_MALFORMED: "invalid_argument",
  SUBJECT_MISSING: "invalid_argument",
  CHECKS_MISSING: "invalid_argument",
  BATCH_TOO_LARGE: "invalid_argument",
  TIER_INVALID: "invalid_argument",
  SCOPE_MISSING: "invalid_argument",
  SCOPE_INVALID: "invalid_argument",
  AGENT_ID_MISSING: "invalid_argument",
  NAME_MISSING: "invalid_argument",
  ROLE_INVALID: "invalid_argument",
  TAG_INVALID: "invalid_argument",
  TTL_INVALID: "invalid_argument",
  TTL_TOO_LONG: "invalid_argument",
  AUDIENCE_INVALID: "invalid_argument",
  IDENTITY_INVALID: "invalid_argument",
  POLICY_INVALID: "invalid_argument",
  // A query's cursor was not one this server handed out (or is for the other query).
  CURSOR_INVALID: "invalid_argument",
  // UNAUTHENTICATED: no usable credential.
  CREDENTIAL_MISSING: "unauthenticated",
  CALLER_UNIDENTIFIED: "unauthenticated",
  API_KEY_MISSING: "unauthenticated",
  API_KEY_MALFORMED: "unauthenticated",
  API_KEY_UNKNOWN: "unauthenticated",
  ADMIN_TOKEN_MISSING: "unauthenticated",
  ADMIN_TOKEN_MALFORMED: "unauthenticated",
  ADMIN_TOKEN_UNKNOWN: "unauthenticated",
  ADMIN_TOKEN_ORG_MISMATCH: "unauthenticated",
  TOKEN_MALFORMED: "unauthenticated",
  TOKEN_TOO_LARGE: "unauthenticated",
  TOKEN_INVALID: "unauthenticated",
  TOKEN_EXPIRED: "unauthenticated",
  TOKEN_KEY_UNKNOWN: "unauthenticated",
  // NOT_FOUND / ALREADY_EXISTS
  AGENT_NOT_FOUND: "not_found",
  POLICY_NOT_FOUND: "not_found",
  AGENT_NAME_TAKEN: "already_exists",
  IDENTITY_TAKEN: "already_exists",
  // FAILED_PRECONDITION: the server is not in a state to do this.
  NO_SIGNING_KEY: "failed_precondition",
  // Issue 4 reasons.
  PUBLIC_KEY_INVALID: "invalid_argument",
  PUBLIC_KEY_WEAK: "invalid_argument",
  USERNAME_INVALID: "invalid_argument",
  PASSWORD_WEAK: "invalid_argument",
  GRACE_INVALID: "invalid_argument",
  EXPIRY_INVALID: "invalid_argument",
  GRANT_INVALID: "invalid_argument",
  ORG_MISSING: "invalid_argument",
  ISSUE_TOKENS_UNSUPPORTED: "invalid_argument",
  AGENT_SECRET_INVALID: "unauthenticated",
  AGENT_SUSPENDED: "unauthenticated",
  ASSERTION_INVALID: "unauthenticated",
  ASSERTION_REPLAYED: "unauthenticated",
  LOGIN_FAILED: "unauthenticated",
  ACCOUNT_LOCKED: "unauthenticated",
  TOKEN_REVOKED: "unauthenticated",
  REFRESH_TOKEN_INVALID: "unauthenticated",
  REFRESH_TOKEN_REUSED: "unauthenticated",
  API_KEY_EXPIRED: "unauthenticated",
  SESSION_INVALID: "unauthenticated",
  API_KEY_SCOPE_MISSING: "permission_denied",
  ROLE_FORBIDDEN: "permission_denied",
  ATTENUATION_VIOLATED: "permission_denied",
  DELEGATION_TOO_DEEP: "permission_denied",
  USER_NOT_FOUND: "not_found",
  API_KEY_NOT_FOUND: "not_found",
  AGENT_KEY_NOT_FOUND: "not_found",
  USERNAME_TAKEN: "already_exists",
  AGENT_KEY_EXISTS: "already_exists",
  // Issue 9 (delegation, tenancy).
  PARENT_INVALID: "invalid_argument",
  TOKEN_ORG_MISMATCH: "unauthenticated",
  EXPLAIN_FORBIDDEN: "permission_denied",
  DELEGATION_FORBIDDEN: "permission_denied",
  // Request and token size limits (issue 9): every field has a bound (domain/limits.ts).
  FIELD_TOO_LARGE: "invalid_argument",
  CLAIMS_TOO_LARGE: "invalid_argument",
  // Server operator and mTLS identity namespaces (issue #9, findings 8-10).
  IDENTITY_OUTSIDE_NAMESPACE: "permission_denied",
  IDENTITY_NOT_FOUND: "not_found",
  NAMESPACE_INVALID: "invalid_argument",
  NAMESPACE_TAKEN: "already_exists",
  NAMESPACE_NOT_FOUND: "not_found",
  ORG_NOT_FOUND: "not_found",
  OPERATOR_TOKEN_MISSING: "unauthenticated",
  OPERATOR_TOKEN_MALFORMED: "unauthenticated",
  OPERATOR_TOKEN_UNKNOWN: "unauthenticated",
  OPERATOR_REQUIRED: "permission_denied",
  ORG_CREDENTIAL_REQUIRED: "permission_denied",
  OPERATOR_RATE_LIMITED: "resource_exhausted",
  // Sessions and logins (issue #9, findings 11, 12, 19): a session past its absolute lifetime;
  // a source that failed too many logins, refused for a while whatever it tries.
  SESSION_EXPIRED: "unauthenticated",
  LOGIN_RATE_LIMITED: "resource_exhausted",
  // Policy evaluation limits (issue #9, findings 2 and 7; issue #11).
  /** A policy condition over the CEL limits: nesting, estimated cost, budget, or the check's deadline. */
  POLICY_TOO_COMPLEX: "invalid_argument",
  /** Too many policy checks already waiting on this server process; retry later. */
  POLICY_CHECKS_BUSY: "resource_exhausted",
  // Strict requests (issue #10): a JSON key that is no field of the message, an enum value the
  // field's enum does not have, a role that is neither a default role nor one of the org's.
  FIELD_UNKNOWN: "invalid_argument",
  ENUM_VALUE_UNKNOWN: "invalid_argument",
  ROLE_UNKNOWN: "invalid_argument",
  // Decide and mint (issue #12): Authorize with `mint` needs a token subject, of the caller's
  // own org, and a caller that may mint (never an mTLS identity alone).
  MINT_SUBJECT_INVALID: "invalid_argument",
  MINT_CROSS_ORG: "permission_denied",
  MINT_FORBIDDEN: "permission_denied",
  // Overload (issue #11): refused at once instead of queued; work past its deadline is dropped.
  OVERLOADED: "resource_exhausted",
  DEADLINE_EXCEEDED: "deadline_exceeded",
  // Cross-org trust (issue #11, "The caller's org decides"): an org cannot trust itself, nor
  // untrust an org it does not trust.
  TRUST_OWN_ORG: "invalid_argument",
  TRUST_NOT_FOUND: "not_found",
  // Crash edges (issue #11): with decisionLogDurability sync, an Authorize whose decision could
  // not be stored (database and spill file both failed, or the server is stopping) is refused,
  // never answered.
  DECISION_LOG_UNAVAILABLE: "unavailable",
  // Replicas on PostgreSQL (issue #14): a write (or a read the hot path never makes) while the
  // shared database cannot be reached. Deciding goes on from memory; the caller may retry.
  STORE_UNAVAILABLE: "unavailable",
  // The AuthZEN endpoints (plain JSON over HTTP, issue #12): a body over the message bound
  // (HTTP 413), and a method the endpoint does not serve (HTTP 405).
  REQUEST_TOO_LARGE: "resource_exhausted",
  METHOD_NOT_ALLOWED: "invalid_argument",
  // Rate limits (issue #13): a credential, agent or org over its requests per second.
  RATE_LIMITED: "resource_exhausted",
  RATE_LIMIT_INVALID: "invalid_argument",
  // INTERNAL: never a client's fault.
  INTERNAL: "internal",
} as const;

/** A reason code, e.g. `API_KEY_UNKNOWN`. */
export type ErrorReason = keyof typeof ERROR_KINDS;
/** The class of failure, which fixes the status code on the wire. */
export type ErrorKind = (typeof ERROR_KINDS)[ErrorReason];

/** A refusal with a stable reason code and a message safe to show the caller. */
export class TesseraError extends Error {
  readonly reason: ErrorReason;
  readonly kind: ErrorKind;
  /** Structured, non-secret details (e.g. the line and column of a policy error). */
  readonly details: Readonly<Record<string, string>>;

  constructor(reason: ErrorReason, message: string, details: Record<string, string> = {}) {
    super(message);
    this.name = "TesseraError";
    this.reason = reason;
    this.kind = ERROR_KINDS[reason];
    this.details = details;
  }
}
