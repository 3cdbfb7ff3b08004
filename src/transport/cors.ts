import type * as http from "node:http";
import type * as http2 from "node:http2";
import { cors as connectCors } from "@connectrpc/connect";

/*
 * CORS on the HTTP port, for browsers calling Connect, gRPC-Web, AuthZEN and the JWKS: an
 * explicit allow-list of origins, matched as whole strings. No credentials mode (Tessera uses no
 * cookies: a browser sends its token or key in a header), so Access-Control-Allow-Credentials is
 * never sent. CORS is enforced by browsers only: a request from any other origin is still
 * served (a script cannot read the answer); it just gets no allow headers.
 */

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

const lower = (names: readonly string[]) => [...new Set(names.map((n) => n.toLowerCase()))];

/**
 * Request headers a browser may send: Connect's own list (`cors.allowedHeaders` of
 * @connectrpc/connect: the Connect and gRPC-Web protocol headers) and Tessera's credentials and
 * request id. `grpc-web` is named by issue #13; allowing a header no client sends costs nothing.
 */
export const CORS_ALLOWED_HEADERS: readonly string[] = lower([
  ...connectCors.allowedHeaders,
  "content-type",
  "connect-protocol-version",
  "connect-timeout-ms",
  "grpc-timeout",
  "grpc-web",
  "x-grpc-web",
  "x-user-agent",
  "authorization",
  "x-api-key",
  "x-admin-token",
  "x-request-id",
]);

/**
 * Response headers a script may read: Connect's list (`cors.exposedHeaders`: the gRPC-Web
 * status trailers-in-headers) and Tessera's reason, request and decision ids, and Retry-After
 * of a refusal under load.
 */
export const CORS_EXPOSED_HEADERS: readonly string[] = lower([
  ...connectCors.exposedHeaders,
  "grpc-status",
  "grpc-message",
  "grpc-status-details-bin",
  "tessera-reason",
  "retry-after",
  "x-request-id",
  "x-tessera-decision-id",
]);

/** Connect uses POST, and GET for side-effect-free calls; OPTIONS is the preflight itself. */
export const CORS_METHODS: readonly string[] = ["POST", "GET", "OPTIONS"];

/** How long a browser may reuse a preflight's answer (Chromium caps it at two hours). */
export const CORS_MAX_AGE_SECONDS = 7200;

const VARY_ORIGIN = "Origin";
const VARY_PREFLIGHT = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

export interface Cors {
  /** True when `origin` (an Origin header, as sent) may read answers. */
  allows(origin: string): boolean;
  /**
   * CORS for one request on a browser path. A preflight is answered here (true: the request is
   * done, no handler or authentication ran); any other request gets its CORS headers set on
   * `res` for the handler's answer to carry (false: serve it as usual).
   */
  handle(req: Req, res: Res): boolean;
}

/**
 * The CORS of an allow-list of origins (as config/cors-origins.ts reads them: serialized
 * origins, or `*` alone). With none, no CORS header is ever sent and preflights are refused.
 */
export function corsPolicy(origins: readonly string[]): Cors {
  const any = origins.includes("*");
  const allowed = new Set(origins);
  const enabled = origins.length > 0;
  const allows = (origin: string) => any || allowed.has(origin);
  return {
    allows,
    handle(req, res) {
      const origin = header(req, "origin");
      if (isPreflight(req, origin)) {
        if (origin !== undefined && allows(origin)) {
          res.writeHead(204, {
            "access-control-allow-origin": any ? "*" : origin,
            "access-control-allow-methods": CORS_METHODS.join(", "),
            "access-control-allow-headers": CORS_ALLOWED_HEADERS.join(", "),
            "access-control-max-age": String(CORS_MAX_AGE_SECONDS),
            vary: VARY_PREFLIGHT,
          });
        } else {
          res.writeHead(403, { "content-length": "0", ...(enabled ? { vary: VARY_PREFLIGHT } : {}) });
        }
        res.end();
        return true;
      }
      // With no allow-list the answer never depends on Origin: nothing to add.
      if (!enabled) return false;
      res.setHeader("vary", VARY_ORIGIN);
      if (origin !== undefined && allows(origin)) {
        res.setHeader("access-control-allow-origin", any ? "*" : origin);
        res.setHeader("access-control-expose-headers", CORS_EXPOSED_HEADERS.join(", "));
      }
      return false;
    },
  };
}

function header(req: Req, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A CORS preflight: OPTIONS with an Origin and the method the browser means to use. */
function isPreflight(req: Req, origin: string | undefined): boolean {
  return (
    req.method === "OPTIONS" &&
    origin !== undefined &&
    header(req, "access-control-request-method") !== undefined
  );
}
