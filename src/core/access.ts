import type { BoundIdentities } from "../auth/bound-identities.js";
import type { OrgCredentials } from "../auth/org-credentials.js";
import { digestsEqual, isWellFormedSecret, secretDigest } from "../auth/secrets.js";
import type { TokenVerifier } from "../auth/token-verifier.js";
import { TesseraError } from "../domain/errors.js";
import { type AuthMethod, noteAuditActor } from "../store/admin-audit.js";
import type { Async } from "../store/contract/async.js";
import type { OperatorRepository } from "../store/operators.js";
import type { CallContext } from "./context.js";

/**
 * What an admin RPC needs; `admin` covers everything. `decisions:evaluate` lets a policy
 * enforcement point ask the AuthZEN endpoints for decisions (and nothing else). `policies:read` (reading policies and
 * their history, validating and testing against them) is also covered by `policies:manage`.
 * `audit:read` reads the org's audit trail and decision log (QueryAudit, QueryDecisions). `trust:manage`
 * (trusting other orgs' tokens, listing and ending those trusts) moves the org's boundary, so
 * no user role but `admin` grants it.
 */
export type AdminScope =
  | "admin"
  | "policies:manage"
  | "policies:read"
  | "capabilities:manage"
  | "audit:read"
  | "trust:manage"
  | "decisions:evaluate";

/** The admin scopes a user role grants. */
const ROLE_SCOPES: Record<string, readonly AdminScope[]> = {
  admin: ["admin"],
  operator: ["policies:manage", "capabilities:manage", "audit:read"],
  viewer: ["policies:read", "audit:read"],
};

/** Scopes that include another: whoever may manage policies may read them. */
const INCLUDED_IN: Partial<Record<AdminScope, readonly string[]>> = {
  "policies:read": ["policies:manage"],
};

/** True when `held` grants `scope`: `admin`, the scope itself, or a scope that includes it. */
function grants(held: readonly string[], scope: AdminScope): boolean {
  if (held.includes("admin") || held.includes(scope)) return true;
  return (INCLUDED_IN[scope] ?? []).some((s) => held.includes(s));
}

/** An org admin caller: the org, and who it is as a policy history records it (never a secret). */
export interface AdminCaller {
  readonly orgId: string;
  /** `admin:KEY_ID` (the org's API key with its admin token), `api_key:KEY_ID`, `user:USER_ID`. */
  readonly actor: string;
}

export interface AccessDeps {
  readonly credentials: OrgCredentials;
  readonly verifier: TokenVerifier;
  readonly identities: BoundIdentities;
  readonly operators: Async<OperatorRepository>;
  /** Told of each call's resolved credential (usage counts, new sources); at most once per call. */
  readonly usage?:
    | {
        used(caller: Caller, ctx: CallContext): void;
        usedAdminToken(orgId: string, tokenId: string, ctx: CallContext): void;
      }
    | undefined;
}

/** The header carrying the server operator's token (tso_…). */
export const OPERATOR_HEADER = "x-operator-token";

/** Who may call what, decided once for every transport. */
export class AccessControl {
  constructor(private readonly d: AccessDeps) {}

  /** Counts the call's credential, once resolved (a map update; written in batches). */
  private used<C extends Caller | null | undefined>(c: C, ctx: CallContext): C {
    if (c) this.d.usage?.used(c, ctx);
    return c;
  }

  /**
   * The org the caller may administer for `scope`: the org's API key with its admin token
   * (everything); a scoped API key holding the scope or `admin`; or a user session token
   * whose role grants it. Refusals: UNAUTHENTICATED without a usable credential,
   * PERMISSION_DENIED when the credential lacks the scope.
   */
  async admin(ctx: CallContext, scope: AdminScope): Promise<string> {
    return (await this.adminCaller(ctx, scope)).orgId;
  }

  /**
   * `admin` at once (no promise) when no token needs verifying: the admin pair or a scoped API
   * key. Undefined when the call's credential is a bearer token alone (then `admin`); every
   * refusal is the same as `admin`'s, thrown.
   */
  adminNow(ctx: CallContext, scope: AdminScope): string | undefined {
    const resolved = this.resolveAdminNow(ctx, scope);
    return resolved && this.admitted(resolved, ctx).orgId;
  }

  /** `admin`, also saying which credential the caller is (for the policy history). */
  async adminCaller(ctx: CallContext, scope: AdminScope): Promise<AdminCaller> {
    const now = this.resolveAdminNow(ctx, scope);
    return this.admitted(now ?? (await this.userAdmin(bearerOf(ctx) ?? "", scope)), ctx);
  }

  /** Notes a resolved admin caller for the audit trail and usage counts. */
  private admitted(
    resolved: AdminCaller & { method: AuthMethod; credential: string; adminTokenId?: string },
    ctx: CallContext,
  ): AdminCaller {
    const { method, credential, adminTokenId, ...caller } = resolved;
    // The audit trail names this caller for every change the call makes.
    noteAuditActor({ principal: caller.actor, method });
    // Usage counts the credential (the admin pair's API key once per call), and the admin token
    // beside it on its own.
    this.used({ orgId: caller.orgId, id: credential }, ctx);
    if (adminTokenId) this.d.usage?.usedAdminToken(caller.orgId, adminTokenId, ctx);
    return caller;
  }

  /** The admin caller, resolved at once; undefined when a bearer token alone needs verifying. */
  private resolveAdminNow(
    ctx: CallContext,
    scope: AdminScope,
  ): (AdminCaller & { method: AuthMethod; credential: string; adminTokenId?: string }) | undefined {
    const apiKey = ctx.header("x-api-key");
    const adminToken = ctx.header("x-admin-token");
    if (adminToken || !apiKey) {
      const bearer = bearerOf(ctx);
      if (bearer && !adminToken) return undefined;
      if (!adminToken && !apiKey) refuseOperatorAsOrg(ctx);
      const pair = this.d.credentials.adminPair(apiKey, adminToken);
      // The API key's id names the caller; the admin token's is counted beside it.
      return {
        orgId: pair.orgId,
        actor: `admin:${pair.keyId}`,
        method: "admin_token",
        credential: `api_key:${pair.keyId}`,
        adminTokenId: pair.tokenId,
      };
    }
    const key = this.d.credentials.apiKey(apiKey);
    // The org's primary key names the org but proves no authority without its admin token.
    if (!key.scopes)
      throw new TesseraError("ADMIN_TOKEN_MISSING", "this call needs an admin token (x-admin-token)");
    if (!grants(key.scopes, scope)) {
      throw new TesseraError("API_KEY_SCOPE_MISSING", `this API key lacks the ${scope} scope`, { scope });
    }
    return {
      orgId: key.orgId,
      actor: `api_key:${key.id}`,
      method: "api_key",
      credential: `api_key:${key.id}`,
    };
  }

  private async userAdmin(
    bearer: string,
    scope: AdminScope,
  ): Promise<AdminCaller & { method: AuthMethod; credential: string }> {
    const claims = await this.d.verifier.verify(bearer);
    const granted = claims.kind === "user" ? claims.roles.flatMap((r) => ROLE_SCOPES[r] ?? []) : [];
    if (!grants(granted, scope)) {
      throw new TesseraError("ROLE_FORBIDDEN", `this principal may not use ${scope}`, { scope });
    }
    return {
      orgId: claims.org,
      actor: `user:${claims.sub}`,
      method: "user_session",
      credential: `user:${claims.sub}`,
    };
  }

  /** An API key asking for decisions: the org's key, or a scoped key holding decisions:evaluate. */
  private decisionKey(apiKey: string): Caller {
    const key = this.d.credentials.apiKey(apiKey);
    if (key.scopes && !grants(key.scopes, "decisions:evaluate")) {
      throw new TesseraError("API_KEY_SCOPE_MISSING", "this API key lacks the decisions:evaluate scope", {
        scope: "decisions:evaluate",
      });
    }
    return { orgId: key.orgId, id: `api_key:${key.id}` };
  }

  /**
   * The policy enforcement point calling the AuthZEN endpoints, at once (no promise): the org's
   * API key (`x-api-key`, or `authorization: Bearer` with the key), a scoped API key holding
   * `decisions:evaluate` (or `admin`), or an mTLS identity bound to an org. A bearer token that
   * is not an API key is no PEP credential. The org always comes from here, never the request.
   */
  pepCaller(ctx: CallContext): Caller {
    const bearer = bearerOf(ctx);
    const apiKey = ctx.header("x-api-key") || (bearer && isWellFormedSecret("apiKey", bearer) ? bearer : "");
    if (apiKey) return this.used(this.decisionKey(apiKey), ctx);
    if (bearer)
      throw new TesseraError(
        "CALLER_UNIDENTIFIED",
        "the AuthZEN endpoints take the org's API key (x-api-key or Bearer), or an mTLS identity bound to an org",
      );
    const peer = ctx.peer();
    const orgId = peer && this.d.identities.orgOf(peer);
    if (orgId) return this.used({ orgId, id: `${peer.source}:${peer.id}` }, ctx);
    return requireCaller(null, ctx);
  }

  /**
   * A forward-auth proxy's own credential, at once: the org's API key or a scoped API key
   * holding `decisions:evaluate` (or `admin`) in `x-api-key`, or an mTLS identity bound to an
   * org; null when it sends none. Never `authorization`: on forward auth that header is the
   * agent's, forwarded by the proxy, and speaks only for the agent (core/forward-auth.ts).
   */
  proxyCaller(ctx: CallContext): Caller | null {
    const apiKey = ctx.header("x-api-key");
    if (apiKey) return this.used(this.decisionKey(apiKey), ctx);
    const peer = ctx.peer();
    const orgId = peer && this.d.identities.orgOf(peer);
    return this.used(orgId ? { orgId, id: `${peer.source}:${peer.id}` } : null, ctx);
  }

  /**
   * The org of any authenticated caller (for introspection and Authorize with an attributes
   * subject): its API key, its bearer token, or its mTLS identity bound to an org.
   */
  async callerOrg(ctx: CallContext): Promise<string> {
    return requireCaller(await this.caller(ctx), ctx).orgId;
  }

  /**
   * `callerOrg` without a promise when it can be answered at once (an API key, a cached
   * bearer token, an mTLS identity): undefined only when a bearer token still needs verifying.
   */
  callerOrgNow(ctx: CallContext): string | undefined {
    const c = this.callerNow(ctx);
    return c === undefined ? undefined : requireCaller(c, ctx).orgId;
  }

  /** The caller's own credential, verified; null when the call carries none. */
  async caller(ctx: CallContext): Promise<Caller | null> {
    const now = this.callerNow(ctx);
    if (now !== undefined) return now;
    // Only a bearer token not verified before is left.
    const claims = await this.d.verifier.verify(bearerOf(ctx) ?? "");
    return this.used({ orgId: claims.org, id: `${claims.kind ?? "agent"}:${claims.sub}` }, ctx);
  }

  /**
   * Who is calling, at once when it can be told (an API key, a cached bearer token, an mTLS
   * identity bound to an org): undefined when a bearer token still needs verifying, null when
   * the call carries no credential (an unbound client certificate is none). A credential
   * that is present but bad is refused, never taken as absent.
   */
  callerNow(ctx: CallContext): Caller | null | undefined {
    return this.used(this.resolveNow(ctx), ctx);
  }

  private resolveNow(ctx: CallContext): Caller | null | undefined {
    const apiKey = ctx.header("x-api-key");
    if (apiKey) {
      const key = this.d.credentials.apiKey(apiKey);
      return { orgId: key.orgId, id: `api_key:${key.id}` };
    }
    const bearer = bearerOf(ctx);
    if (bearer) {
      const claims = this.d.verifier.verifyNow(bearer);
      return claims && { orgId: claims.org, id: `${claims.kind ?? "agent"}:${claims.sub}` };
    }
    const peer = ctx.peer();
    const orgId = peer && this.d.identities.orgOf(peer);
    return orgId ? { orgId, id: `${peer.source}:${peer.id}` } : null;
  }

  /**
   * The id of the operator token the caller presents (`x-operator-token`), for server-wide
   * calls. Org credentials of any kind (API key, admin token, bearer token, an mTLS identity
   * bound to an org) are refused with OPERATOR_REQUIRED: no org administers the server. The
   * token is checked for shape and checksum before any lookup, and its stored digest compared
   * in constant time.
   */
  async system(ctx: CallContext): Promise<string> {
    const token = ctx.header(OPERATOR_HEADER);
    if (!token) {
      const peer = ctx.peer();
      const orgCredential =
        ctx.header("x-api-key") ||
        ctx.header("x-admin-token") ||
        bearerOf(ctx) ||
        (peer && this.d.identities.orgOf(peer));
      if (orgCredential)
        throw new TesseraError(
          "OPERATOR_REQUIRED",
          "this server-wide call needs the operator token (x-operator-token); org credentials cannot make it",
        );
      throw new TesseraError(
        "OPERATOR_TOKEN_MISSING",
        "this call needs the operator token (x-operator-token)",
      );
    }
    if (!isWellFormedSecret("operatorToken", token))
      throw new TesseraError("OPERATOR_TOKEN_MALFORMED", "the operator token is not well-formed");
    const digest = secretDigest(token);
    const row = await this.d.operators.findToken(digest);
    if (!row || !digestsEqual(row.digest, digest))
      throw new TesseraError("OPERATOR_TOKEN_UNKNOWN", "the operator token is not known");
    noteAuditActor({ principal: `operator:${row.id}`, method: "operator" });
    return row.id;
  }
}

/**
 * An operator token alone on an org's call: refused with its own reason, since it is not an
 * org credential (it administers the server, never an org's agents, keys or policies).
 */
function refuseOperatorAsOrg(ctx: CallContext): void {
  if (ctx.header(OPERATOR_HEADER))
    throw new TesseraError(
      "ORG_CREDENTIAL_REQUIRED",
      "the operator token is not an org credential: use the org's API key and admin token",
    );
}

/** An authenticated caller: its org, and a short non-secret id for the decision log. */
export interface Caller {
  readonly orgId: string;
  readonly id: string;
}

/** The caller, or CALLER_UNIDENTIFIED (ORG_CREDENTIAL_REQUIRED for an operator token alone). */
export function requireCaller(c: Caller | null, ctx: CallContext): Caller {
  if (c) return c;
  refuseOperatorAsOrg(ctx);
  throw new TesseraError(
    "CALLER_UNIDENTIFIED",
    "send x-api-key or a bearer token, or call over mTLS with an identity bound to an org",
  );
}

/** The token of an `authorization: Bearer …` header, if any. */
export function bearerOf(ctx: CallContext): string | undefined {
  const h = ctx.header("authorization");
  const m = h ? /^Bearer\s+(\S+)$/i.exec(h) : null;
  return m?.[1];
}
