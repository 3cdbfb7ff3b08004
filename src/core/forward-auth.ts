import type { TokenVerifier } from "../auth/token-verifier.js";
import { TesseraError } from "../domain/errors.js";
import type { HttpRequest } from "../engine/routes.js";
import { type AccessControl, bearerOf, type Caller } from "./access.js";
import type { AuthCore, HttpDecided } from "./auth.js";
import { TRUSTS_NONE, type TrustLookup, verifiedTokenSubject } from "./authorize-subject.js";
import type { CallContext } from "./context.js";

/*
 * Forward auth (issue #12): a reverse proxy (nginx auth_request, Traefik ForwardAuth, Caddy
 * forward_auth) asks before proxying a request. The request as the proxy received it (method,
 * URI, host: read from the forwarded headers by rpc/forward-auth.ts) is routed through the org's
 * RouteMaps and decided for the agent whose bearer token the proxy forwards.
 *
 * Whose policies decide. Two credentials may arrive together: the proxy's own (`x-api-key` set on
 * the auth subrequest, or an mTLS identity bound to an org) and the agent's `Authorization: Bearer`
 * token, which the proxy forwards from the client.
 *  - With a proxy credential, its org decides, always. The token must be of that org, or of an
 *    org that org trusts (and is then decided under the proxy's org's policies, never its own):
 *    otherwise TOKEN_ORG_MISMATCH. A client therefore never picks the policies by picking a token.
 *  - With none, the token is its own credential, as for Authorize with a bare token: its org's
 *    policies decide about its holder. This is no opening: the token's org is the only org whose
 *    policies it can reach, and only about the token's own subject.
 *  - `authorization` is only ever the agent's here: an API key sent as `Bearer` is no token
 *    (401), never taken as the proxy's credential (it would let a client name the org).
 */

/** The original request as the proxy forwards it. */
export type ForwardedRequest = HttpRequest;

export interface ForwardAuthDeps {
  readonly auth: AuthCore;
  readonly access: AccessControl;
  readonly verifier: TokenVerifier;
  readonly trust?: TrustLookup | undefined;
}

export class ForwardAuth {
  constructor(private readonly d: ForwardAuthDeps) {}

  /**
   * The proxy's credential, checked before anything else is read: a bad one is refused (401,
   * or 403 for a scoped key without `decisions:evaluate`), never taken as absent.
   */
  proxy(ctx: CallContext): Caller | null {
    return this.d.access.proxyCaller(ctx);
  }

  /**
   * Decides (and logs) a forwarded request for the agent's bearer token. A deny is a decision;
   * no token is CREDENTIAL_MISSING, a bad one the verifier's reason (all UNAUTHENTICATED).
   * At once when the token is cached, a promise when its signature still needs checking.
   */
  decide(ctx: CallContext, proxy: Caller | null, req: ForwardedRequest): HttpDecided | Promise<HttpDecided> {
    const token = bearerOf(ctx);
    if (!token)
      throw new TesseraError(
        "CREDENTIAL_MISSING",
        "forward auth needs the agent's token (Authorization: Bearer …) forwarded by the proxy",
      );
    const r = verifiedTokenSubject(token, proxy, this.d.verifier, this.d.trust ?? TRUSTS_NONE);
    return r instanceof Promise
      ? r.then((s) => this.d.auth.decideHttpResolved(s, req))
      : this.d.auth.decideHttpResolved(r, req);
  }
}
