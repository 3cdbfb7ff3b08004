import * as http from "node:http";
import * as http2 from "node:http2";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import type { CallMeter } from "../observe/call-meter.js";
import type { PlainHandler } from "../rpc/authzen.js";
import { reportInternal } from "../rpc/errors.js";
import type { ServiceBinding } from "../rpc/handlers.js";
import { type ConnectImpl, decodeAuthorizeJson, directCandidate, serveDirect } from "./authorize-json.js";
import { addConnectService } from "./connect-adapter.js";
import { connectHandler } from "./connect-node.js";
import { corsPolicy } from "./cors.js";
import { DEFAULT_LIMITS, type TransportLimits } from "./limits.js";
import { servePlain } from "./plain-adapter.js";
import type { StreamBudget } from "./stream-budget.js";
import type { TlsMaterial } from "./tls.js";

export interface HttpOptions {
  readonly bindings: readonly ServiceBinding[];
  readonly maxMessageBytes: number;
  /** The JWKS document served at /.well-known/jwks.json. */
  readonly jwks: () => object;
  /** True while the server is up and not draining. */
  readonly healthy: () => boolean;
  readonly tls?: TlsMaterial | undefined;
  /** The worker's stream budget, shared with the gRPC port (HTTP/2 over TLS only). */
  readonly budget?: StreamBudget | undefined;
  /** Connection and request limits; DEFAULT_LIMITS unless a test needs shorter ones. */
  readonly limits?: TransportLimits | undefined;
  /** Plain JSON endpoints (AuthZEN): which paths they serve, and their handler. */
  /** Times and counts every Connect call and plain request; unset, nothing is recorded. */
  readonly meter?: CallMeter | undefined;
  /** The server's metrics in the Prometheus text format, for GET /metrics; unset, /metrics is not served. */
  readonly metrics?: (() => Promise<{ readonly contentType: string; readonly text: string }>) | undefined;
  readonly plain?:
    | {
        readonly serves: (path: string) => boolean;
        readonly handler: PlainHandler;
        /** Which of those paths browsers call (CORS applies): AuthZEN yes, forward auth no. */
        readonly forBrowsers?: ((path: string) => boolean) | undefined;
      }
    | undefined;
  /**
   * Authorize's Connect JSON of the usual shape served by a direct path (authorize-json.ts)
   * rather than the Connect router, with the same answers; false: always the router.
   */
  readonly directJson?: boolean | undefined;
  /** Browser origins allowed to call (CORS, see cors.ts); none (the default): no CORS headers. */
  readonly corsOrigins?: readonly string[] | undefined;
}

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

type NodeHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

function sendJson(
  res: http.ServerResponse | http2.Http2ServerResponse,
  status: number,
  body: object,
  extra: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...extra,
  });
  res.end(text);
}

/** GET /metrics: the Prometheus text, or 503 when it cannot be had (a worker did not answer). */
function serveMetrics(
  metrics: NonNullable<HttpOptions["metrics"]>,
  res: http.ServerResponse | http2.Http2ServerResponse,
): void {
  metrics().then(
    ({ contentType, text }) => {
      res.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(text) });
      res.end(text);
    },
    () => {
      if (!res.headersSent) sendJson(res, 503, { error: "metrics unavailable", reason: "UNAVAILABLE" });
    },
  );
}

/**
 * The HTTP port: Connect (JSON and binary) and gRPC-Web for every service, plus the plain
 * endpoints. Built, not started: the caller listens.
 */
export function createHttpServer(opts: HttpOptions): http.Server | http2.Http2SecureServer {
  let authorizeImpl: ConnectImpl | undefined;
  const connect = connectHandler({
    routes: (router) => {
      for (const b of opts.bindings) {
        const impls = addConnectService(router, b, opts.meter);
        if (b.service.typeName === AuthService.typeName && opts.directJson !== false)
          authorizeImpl = impls[AuthService.method.authorize.localName];
      }
    },
    maxMessageBytes: opts.maxMessageBytes,
  });
  const authorizeOutput = AuthService.method.authorize.output;
  /** Authorize's Connect JSON of the usual shape, decoded by hand; anything else to Connect. */
  const direct = (req: NodeRequest, res: NodeResponse, impl: ConnectImpl, length: number) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      chunks.push(c);
      size += c.length;
    });
    // A client gone mid-body: nothing to answer (the socket is closed), nothing to throw.
    req.on("error", () => {});
    req.on("end", () => {
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      const request = size === length ? decodeAuthorizeJson(body) : undefined;
      if (!request) return connect(req, res, body);
      serveDirect(impl, authorizeOutput, request, req, res).catch(reportInternal);
    });
  };
  const cors = corsPolicy(opts.corsOrigins ?? []);
  // The paths browsers call: every Connect method, the JWKS and the plain ones meant for them.
  const connectPaths = new Set(
    opts.bindings.flatMap((b) => b.service.methods.map((m) => `/${b.service.typeName}/${m.name}`)),
  );
  const forBrowsers = (path: string) =>
    connectPaths.has(path) || path === "/.well-known/jwks.json" || !!opts.plain?.forBrowsers?.(path);
  const handler: NodeHandler = (req, res) => {
    const path = (req.url ?? "").split("?")[0];
    // A preflight is answered here, before any handler or authentication.
    if (forBrowsers(path ?? "") && cors.handle(req, res)) return;
    if (req.method === "GET" && path === "/.well-known/jwks.json") {
      return sendJson(res, 200, opts.jwks(), { "cache-control": "public, max-age=300" });
    }
    if (req.method === "GET" && path === "/healthz") {
      return opts.healthy()
        ? sendJson(res, 200, { status: "SERVING" })
        : sendJson(res, 503, { status: "NOT_SERVING" });
    }
    if (req.method === "GET" && path === "/metrics" && opts.metrics) return serveMetrics(opts.metrics, res);
    if (opts.plain?.serves(path ?? "")) {
      // The path is one of the plain endpoints' fixed set: a bounded label.
      const tally = opts.meter?.route(path ?? "");
      return servePlain(opts.plain.handler, req, res, {
        maxBytes: opts.maxMessageBytes,
        tls: !!opts.tls,
        tally,
      });
    }
    const length = authorizeImpl && directCandidate(req, opts.maxMessageBytes);
    if (authorizeImpl && length) return direct(req, res, authorizeImpl, length);
    connect(req, res);
  };
  const limits = opts.limits ?? DEFAULT_LIMITS;
  if (!opts.tls) {
    const plain = http.createServer(
      {
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        // How often those timeouts are checked (Node's default, 30 s, would let them overrun).
        connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
      },
      handler as http.RequestListener,
    );
    plain.maxConnections = limits.maxConnections;
    return plain;
  }
  const server = http2.createSecureServer(
    {
      allowHTTP1: true,
      settings: { maxConcurrentStreams: limits.maxConcurrentStreams },
      cert: opts.tls.cert,
      key: opts.tls.key,
      ...(opts.tls.clientCa ? { ca: opts.tls.clientCa, requestCert: true, rejectUnauthorized: false } : {}),
    },
    handler,
  );
  server.maxConnections = limits.maxConnections;
  opts.budget?.attach(server);
  // An HTTP/2 stream that does not finish arriving is reset after the request timeout.
  server.on("stream", (stream) => stream.setTimeout(limits.requestTimeoutMs, () => stream.close()));
  trackSessions(server);
  return server;
}

const SESSIONS = Symbol("sessions");

/** Remembers a server's open HTTP/2 sessions: its close() waits for them all, idle or not. */
function trackSessions(server: http2.Http2SecureServer): void {
  const sessions = new Set<http2.ServerHttp2Session>();
  (server as unknown as Record<symbol, unknown>)[SESSIONS] = sessions;
  server.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
}

/**
 * Stops the HTTP port: no new connections, in-flight requests finish, idle connections
 * (HTTP/1.1 keep-alive and HTTP/2 sessions, which get a GOAWAY) close, and after `graceMs`
 * whatever is left is cut.
 */
export function closeHttpServer(
  server: http.Server | http2.Http2SecureServer,
  graceMs = 5000,
): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    (server as http.Server).closeIdleConnections?.();
    const sessions = (server as unknown as Record<symbol, Set<http2.ServerHttp2Session> | undefined>)[
      SESSIONS
    ];
    for (const s of sessions ?? []) s.close();
    setTimeout(() => {
      for (const s of sessions ?? []) s.destroy();
      (server as http.Server).closeAllConnections?.();
    }, graceMs).unref();
  });
}
