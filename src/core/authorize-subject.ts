import { type AccessClaims, actorChain } from "../auth/token-claims.js";
import type { TokenVerifier } from "../auth/token-verifier.js";
import { TesseraError } from "../domain/errors.js";
import type { Subject } from "../engine/types.js";
import { type AccessControl, type Caller, requireCaller } from "./access.js";
import type { CallContext } from "./context.js";

export type SubjectInput = { kind: "token"; token: string } | { kind: "attributes"; attributes: Subject };

/** Whose policies decide, about whom, and who asked. */
/** The decision log's name for the caller when a bare token was the only credential. */
export const ANONYMOUS = "anonymous";

export interface Resolved {
  readonly orgId: string;
  readonly subject: Subject;
  /** The caller's credential as the decision log names it ("anonymous" for a bare token). */
  readonly caller: string;
  /** The token's org when it is not `orgId`: a token of an org the caller's org trusts. */
  readonly subjectOrg?: string | undefined;
  /** A token subject's verified claims (decide and mint signs from them). */
  readonly claims?: AccessClaims | undefined;
}

/** Which orgs trust which, answered from memory (never a database read on this path). */
export interface TrustLookup {
  trusts(orgId: string, other: string): boolean;
}

/** A verified token as the engine sees its subject: grants and the delegation chain included. */
function subjectOfClaims(c: AccessClaims): Subject {
  return {
    id: c.sub,
    org: c.org,
    tier: c.tier,
    roles: c.roles,
    scopes: c.scopes,
    tags: c.tags,
    attr: {},
    grants: c.grants as Readonly<Record<string, unknown>> | undefined,
    act: actorChain(c.act),
  };
}

/**
 * The caller's org decides: a token subject from another org than the caller's credential is
 * refused (TOKEN_ORG_MISMATCH) unless the caller's org trusts the token's org, and then it is
 * decided under the caller's org's policies, never the token's. A token sent with no
 * credential of its own is its own credential (whoever holds it may ask about it).
 */
export function tokenSubject(claims: AccessClaims, caller: Caller | null, trust: TrustLookup): Resolved {
  if (!caller || caller.orgId === claims.org)
    return { orgId: claims.org, subject: subjectOfClaims(claims), caller: caller?.id ?? ANONYMOUS, claims };
  if (!trust.trusts(caller.orgId, claims.org)) {
    throw new TesseraError(
      "TOKEN_ORG_MISMATCH",
      "the token belongs to another org than the caller's credential, and the caller's org does not trust it",
    );
  }
  return {
    orgId: caller.orgId,
    subject: subjectOfClaims(claims),
    caller: caller.id,
    subjectOrg: claims.org,
    claims,
  };
}

/** For when no org trusts any other (no cross-org trust configured). */
export const TRUSTS_NONE: TrustLookup = { trusts: () => false };

/**
 * A bearer token's subject for `caller` (see tokenSubject): at once when the token is cached,
 * a promise when its signature still needs checking.
 */
export function verifiedTokenSubject(
  token: string,
  caller: Caller | null,
  verifier: TokenVerifier,
  trust: TrustLookup,
): Resolved | Promise<Resolved> {
  const cached = verifier.verifyNow(token);
  return cached
    ? tokenSubject(cached, caller, trust)
    : verifier.verify(token).then((c) => tokenSubject(c, caller, trust));
}

function withCaller(
  claims: AccessClaims,
  access: AccessControl,
  ctx: CallContext,
  trust: TrustLookup,
): Resolved | Promise<Resolved> {
  const caller = access.callerNow(ctx);
  return caller === undefined
    ? access.caller(ctx).then((c) => tokenSubject(claims, c, trust))
    : tokenSubject(claims, caller, trust);
}

function attributesSubject(subject: Subject, caller: Caller | null, ctx: CallContext): Resolved {
  const c = requireCaller(caller, ctx);
  return { orgId: c.orgId, subject, caller: c.id };
}

/**
 * Resolves an Authorize subject: at once when every credential involved is cached (the hot
 * path), a promise only when a signature still needs checking.
 */
export function resolveSubject(
  input: SubjectInput,
  ctx: CallContext,
  access: AccessControl,
  verifier: TokenVerifier,
  trust: TrustLookup,
): Resolved | Promise<Resolved> {
  if (input.kind === "attributes") {
    const caller = access.callerNow(ctx);
    return caller === undefined
      ? access.caller(ctx).then((c) => attributesSubject(input.attributes, c, ctx))
      : attributesSubject(input.attributes, caller, ctx);
  }
  const cached = verifier.verifyNow(input.token);
  return cached
    ? withCaller(cached, access, ctx, trust)
    : verifier.verify(input.token).then((c) => withCaller(c, access, ctx, trust));
}
