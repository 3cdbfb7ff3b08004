import type { HttpDecided } from "../core/auth.js";
import type { CallContext } from "../core/context.js";
import type { ForwardedRequest } from "../core/forward-auth.js";
import type { Tessera } from "../core/tessera.js";
import { TesseraError } from "../domain/errors.js";
import { FORWARD_AUTH_LIMITS } from "../domain/limits.js";
import {
  errorResponse,
  type PlainAdmission,
  type PlainHandler,
  type PlainRequest,
  type PlainResponse,
  requestIdHeader,
} from "./authzen.js";

/*
 * Forward auth on the HTTP port (issue #12): wire ⇄ core mapping only. nginx (`auth_request`),
 * Traefik (`ForwardAuth`) and Caddy (`forward_auth`) call this endpoint with the original
 * request's method, URI and host in headers, and the agent's `Authorization: Bearer` token; the
 * answer is 200 (proxy it), 403 (a deny), 401 (no usable token) or 400 (the proxy sent no usable
 * method or URI). Any method is accepted (nginx sends a GET, Traefik the original method); the
 * body, if any, is ignored.
 */

export const FORWARD_AUTH_PATH = "/v1/forward-auth";

export function isForwardAuthPath(path: string): boolean {
  return path === FORWARD_AUTH_PATH;
}

/**
 * The two header families: Traefik and Caddy send `X-Forwarded-*`; nginx has no convention, and
 * the usual configuration sets `X-Original-*`. A proxy passes the client's own headers to the
 * auth request too, so a client may add the family its proxy does not set: when both carry a
 * field and they differ, the request is refused (400), never decided on the client's choice.
 */
const FIELDS = {
  method: ["x-forwarded-method", "x-original-method"],
  uri: ["x-forwarded-uri", "x-original-uri"],
  host: ["x-forwarded-host"],
} as const;

/** An HTTP method token (RFC 9110 tchar); a repeated header, joined with ", ", is none. */
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A request target as sent: visible ASCII, no space (a repeated header, joined with ", ", has one). */
const URI = /^[\x21-\x7e]+$/;
/** A host name or IP literal and an optional port. */
const HOST = /^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

function malformed(field: string, why: string): TesseraError {
  return new TesseraError("REQUEST_MALFORMED", `${field} ${why}`, { field });
}

/** One field from whichever family carries it, bounded and checked; undefined when neither does. */
function field(
  ctx: CallContext,
  names: readonly string[],
  maxBytes: number,
  shape: RegExp,
): string | undefined {
  let value: string | undefined;
  for (const name of names) {
    const v = ctx.header(name);
    if (v === undefined || v === "") continue;
    // Node keeps header values as latin1: one character per byte on the wire.
    if (v.length > maxBytes)
      throw new TesseraError("FIELD_TOO_LARGE", `${name} is over its bound of ${maxBytes} bytes`, {
        field: name,
        limit: String(maxBytes),
        unit: "bytes",
      });
    if (!shape.test(v)) throw malformed(name, "is malformed (or sent more than once)");
    if (value !== undefined && value !== v)
      throw malformed(name, `disagrees with ${names[0]}: the proxy must set one family of headers`);
    value = v;
  }
  return value;
}

/** The original request the proxy asks about: a method and a URI are required, the host is not. */
export function forwardedRequest(ctx: CallContext): ForwardedRequest {
  const method = field(ctx, FIELDS.method, FORWARD_AUTH_LIMITS.methodBytes, METHOD);
  if (!method) throw malformed("x-forwarded-method", "(or x-original-method) is required");
  const uri = field(ctx, FIELDS.uri, FORWARD_AUTH_LIMITS.uriBytes, URI);
  if (!uri) throw malformed("x-forwarded-uri", "(or x-original-uri) is required");
  const host = field(ctx, FIELDS.host, FORWARD_AUTH_LIMITS.hostBytes, HOST);
  // The query stays on: the router splits it off for `context.http.query`.
  return { method, path: uri, host };
}

/**
 * ALLOW → 200 with who and what in `X-Tessera-*` (for the proxy to pass upstream), and with a
 * route that mints the downstream token in `Authorization`; DENY → 403.
 */
function answer(d: HttpDecided): PlainResponse {
  const body = { reason: d.reason, decision_id: d.decisionId };
  if (!d.allow) return { status: 403, body, headers: { "x-tessera-decision-id": d.decisionId } };
  const headers: Record<string, string> = {
    "x-tessera-decision-id": d.decisionId,
    "x-tessera-principal": d.subjectId,
  };
  // No scope when no route matched and the maps' default allowed the request.
  if (!d.route.noRoute) headers["x-tessera-scope"] = d.route.scope;
  // Decide and mint: the proxy copies it over the client's own (Traefik authResponseHeaders,
  // Caddy copy_headers, nginx auth_request_set), so the upstream sees only the narrowed token.
  if (d.token) headers.authorization = `Bearer ${d.token}`;
  return { status: 200, body, headers };
}

async function decide(t: Tessera, req: PlainRequest): Promise<PlainResponse> {
  // The proxy's credential first: a bad one is refused before the request is even read.
  const proxy = t.forwardAuth.proxy(req.ctx);
  const forwarded = forwardedRequest(req.ctx);
  return answer(await t.forwardAuth.decide(req.ctx, proxy, forwarded));
}

/** A refusal: `{"error", "reason"}`; a 401 says how to authenticate (RFC 6750). */
function refusal(err: unknown): PlainResponse {
  const res = errorResponse(err);
  if (res.status !== 401) return res;
  const missing = err instanceof TesseraError && err.reason === "CREDENTIAL_MISSING";
  const challenge = missing ? 'Bearer realm="tessera"' : 'Bearer realm="tessera", error="invalid_token"';
  return { ...res, headers: { ...res.headers, "www-authenticate": challenge } };
}

/** The forward-auth endpoint's handler, behind the same admission as every call: never throws. */
export function forwardAuthHandler(t: Tessera, admission?: PlainAdmission): PlainHandler {
  return async (req) => {
    const echo = requestIdHeader(req.ctx);
    try {
      const res = await (admission ? admission.guard(req.ctx, () => decide(t, req)) : decide(t, req));
      return { ...res, headers: { ...res.headers, ...echo } };
    } catch (err) {
      const res = refusal(err);
      return { ...res, headers: { ...res.headers, ...echo } };
    }
  };
}
