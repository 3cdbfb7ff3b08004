import type { TokenVerifier } from "../auth/token-verifier.js";
import { TesseraError } from "../domain/errors.js";
import type { Subject } from "../engine/types.js";
import type { AccessControl } from "./access.js";
import type { AuthCore, HttpDecided } from "./auth.js";
import { type TrustLookup, verifiedTokenSubject } from "./authorize-subject.js";
import type { CallContext } from "./context.js";

/*
 * Envoy ext_authz (envoy.service.auth.v3.Authorization/Check), independent of the wire. The
 * proxy calling Check is the policy enforcement point: its own credential names the org (never
 * the checked request). The subject is the checked request's `authorization: Bearer` Tessera
 * token, or else the SPIFFE ID Envoy verified on the downstream connection when it is a service
 * identity bound to the caller's org. The request is routed through the org's RouteMaps and
 * decided (and logged) like Authorize.
 */

/** The parts of a checked HTTP request Tessera reads. */
export interface ExtAuthzInput {
  readonly method: string;
  readonly host: string;
  /** The request target as Envoy gives it: the path, with its query string. */
  readonly path: string;
  /** The checked request's `authorization` header, if any. */
  readonly authorization?: string | undefined;
  /** `attributes.source.principal`: the identity Envoy verified on the downstream connection. */
  readonly sourcePrincipal?: string | undefined;
}

export interface ExtAuthzDeps {
  readonly access: AccessControl;
  readonly verifier: TokenVerifier;
  readonly trust: TrustLookup;
  /** The org a SPIFFE ID is bound to (mTLS service identities). */
  readonly identityOrg: (spiffeId: string) => string | undefined;
  readonly auth: AuthCore;
}

/**
 * The token of a `Bearer …` header value (the checked request's, not the Check call's). A Bearer
 * header that holds no single token (two joined by Envoy, spaces) is refused, never read as no
 * token: it must not fall back to the connection's identity.
 */
function bearerToken(header: string | undefined): string | undefined {
  if (!header || !/^Bearer(\s|$)/i.test(header)) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m) throw new TesseraError("TOKEN_MALFORMED", "the Authorization header holds no single Bearer token");
  return m[1];
}

/**
 * A service identity as the engine sees it. Tessera stores no tier, roles or tags for service
 * identities (a binding names an org, nothing more), so it is an unverified subject with no
 * roles: rules match it by id (`principal.id`) or `attr.type == "service"`.
 */
function serviceSubject(spiffeId: string): Subject {
  return { id: spiffeId, tier: "unverified", roles: [], tags: [], attr: { type: "service" } };
}

export class ExtAuthz {
  constructor(private readonly d: ExtAuthzDeps) {}

  /**
   * Decides one checked request. Refusals (no caller credential, a bad token, no subject, a
   * malformed request) are thrown as TesseraError; the wire maps them to deny answers.
   */
  check(ctx: CallContext, input: ExtAuthzInput): HttpDecided | Promise<HttpDecided> {
    const caller = this.d.access.pepCaller(ctx);
    if (!input.method || !input.path)
      throw new TesseraError("REQUEST_MALFORMED", "the checked request has no HTTP method or path", {
        field: "attributes.request.http",
      });
    const http = { method: input.method, host: input.host, path: input.path };
    const token = bearerToken(input.authorization);
    if (token) {
      const r = verifiedTokenSubject(token, caller, this.d.verifier, this.d.trust);
      return r instanceof Promise
        ? r.then((s) => this.d.auth.decideHttpResolved(s, http))
        : this.d.auth.decideHttpResolved(r, http);
    }
    const principal = input.sourcePrincipal;
    if (principal?.startsWith("spiffe://") && this.d.identityOrg(principal) === caller.orgId)
      return this.d.auth.decideHttpResolved(
        { orgId: caller.orgId, subject: serviceSubject(principal), caller: caller.id },
        http,
      );
    throw new TesseraError(
      "SUBJECT_MISSING",
      "the checked request carries no Bearer token, and its source principal is no service identity bound to the caller's org",
    );
  }
}
