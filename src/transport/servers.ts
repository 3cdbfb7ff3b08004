import type * as http from "node:http";
import type * as http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { file_envoy_service_auth_v3_external_auth } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb.js";
import {
  file_grpc_health_v1_health,
  HealthCheckResponse_ServingStatus as HealthStatus,
} from "../../gen/grpc/health/v1/health_pb.js";
import { file_tessera_v1_admin_service } from "../../gen/tessera/v1/admin_service_pb.js";
import { file_tessera_v1_auth_service } from "../../gen/tessera/v1/auth_service_pb.js";
import { file_tessera_v1_system_service } from "../../gen/tessera/v1/system_service_pb.js";
import type { Tessera } from "../core/tessera.js";
import type { CallMeter } from "../observe/call-meter.js";
import { adminService } from "../rpc/admin-service.js";
import { Admission } from "../rpc/admission.js";
import { authService } from "../rpc/auth-service.js";
import { authzenHandler, isAuthzenPath, type PlainRequest } from "../rpc/authzen.js";
import { extAuthzService } from "../rpc/ext-authz.js";
import { forwardAuthHandler, isForwardAuthPath } from "../rpc/forward-auth.js";
import type { ServiceBinding } from "../rpc/handlers.js";
import { type ChargeTo, rateLimitBinding, rateLimitPlain } from "../rpc/rate-limit.js";
import { type CallObserver, observeBinding } from "../rpc/request-log.js";
import { systemService } from "../rpc/system-service.js";
import { addGrpcService } from "./grpc-adapter.js";
import { HealthState } from "./health.js";
import { createHttpServer } from "./http-server.js";
import { DEFAULT_LIMITS, grpcServerOptions, limitGrpcConnections, type TransportLimits } from "./limits.js";
import { addReflection } from "./reflection.js";
import { StreamBudget } from "./stream-budget.js";
import type { TlsMaterial } from "./tls.js";

export interface ServerOptions {
  readonly maxMessageBytes: number;
  readonly tls?: TlsMaterial | undefined;
  /** Told of every call once answered (the debug request log); unset, calls are not wrapped at all. */
  readonly observeCall?: CallObserver | undefined;
  /** Per-worker admission (overload shedding, deadlines); the default admits everything. */
  readonly admission?: { readonly maxInFlight: number; readonly maxLagMs: number } | undefined;
  /** Connection and stream limits; DEFAULT_LIMITS for whatever is not given. */
  readonly limits?: Partial<TransportLimits> | undefined;
  /** Times and counts every call on both ports (metrics, slow calls); unset, nothing is recorded. */
  readonly meter?: CallMeter | undefined;
  /** What GET /metrics on the HTTP port answers; unset, it is not served. */
  readonly metrics?: (() => Promise<{ readonly contentType: string; readonly text: string }>) | undefined;
  /** Browser origins allowed to call the HTTP port (CORS); none by default. */
  readonly corsOrigins?: readonly string[] | undefined;
}

/** Both ports' servers, built but not listening. */
export interface Servers {
  readonly grpc: grpc.Server;
  readonly http: http.Server | http2.Http2SecureServer;
  readonly health: HealthState;
  /** Samples the event-loop lag while the servers run; returns the function that stops it. */
  startAdmission(): () => void;
  /** Once the gRPC port is bound: its connection cap and its share of the stream budget. */
  limitGrpc(): void;
  /** Readiness: the whole server is SERVING (what /healthz and grpc.health.v1 say). */
  ready(): boolean;
}

/**
 * Tessera's own services, bound to their handlers: served by every transport. `serving` is
 * the servers' health, as GetServerStatus reports it.
 */
export function serviceBindings(t: Tessera, serving: () => boolean = () => true): ServiceBinding[] {
  return [authService(t, serving), adminService(t), systemService(t)];
}

/** The plain JSON endpoints of the HTTP port (AuthZEN, forward auth), behind the calls' admission. */
function plainEndpoints(t: Tessera, admission: Admission) {
  // Charged to the PEP's or proxy's own credential, never the agent's forwarded one.
  const authzen = authzenHandler(
    t,
    rateLimitPlain(admission, t.rateLimits, (ctx) => t.access.pepCaller(ctx)),
  );
  const forward = forwardAuthHandler(
    t,
    rateLimitPlain(admission, t.rateLimits, (ctx) => t.access.proxyCaller(ctx)),
  );
  return {
    serves: (path: string) => isAuthzenPath(path) || isForwardAuthPath(path),
    handler: (req: PlainRequest) => (isForwardAuthPath(req.path) ? forward(req) : authzen(req)),
    // Forward auth is called by proxies, with the browser's own headers copied: never CORS.
    forBrowsers: isAuthzenPath,
  };
}

/** Builds the gRPC and HTTP servers over one set of handlers. */
export function createServers(t: Tessera, opts: ServerOptions): Servers {
  const observe = opts.observeCall;
  // The health state names the services, which exist only once bound: asked for at call time.
  let health: HealthState | undefined;
  const admission = new Admission({
    maxInFlight: opts.admission?.maxInFlight ?? Number.MAX_SAFE_INTEGER,
    maxLagMs: opts.admission?.maxLagMs ?? Number.MAX_SAFE_INTEGER,
    // Readiness: a worker that sheds load tells its balancer to send less.
    onShedding: (shedding) => health?.setReady("load", !shedding),
  });
  // Admission outermost: a refused call costs a comparison and nothing else (health is never refused).
  // Then the request log, which sees rate-limit refusals too; then the rate limit, charged to the
  // caller's own credential (ext_authz: the proxy's, never the agent's).
  const wrap = (b: ServiceBinding, chargeTo: ChargeTo) => {
    const limited = rateLimitBinding(b, t.rateLimits, chargeTo);
    return admission.wrap(observe ? observeBinding(limited, observe) : limited);
  };
  const caller: ChargeTo = (ctx) => {
    const now = t.access.callerNow(ctx);
    return now === undefined ? t.access.caller(ctx) : now;
  };
  const bindings = serviceBindings(t, () => health?.get("") === 1).map((b) => wrap(b, caller));
  // Envoy ext_authz speaks gRPC only: bound on the gRPC port, not served over Connect.
  const extAuthz = wrap(extAuthzService(t), (ctx) => t.access.proxyCaller(ctx));
  health = new HealthState([...bindings, extAuthz].map((b) => b.service.typeName));
  const limits: TransportLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const server = new grpc.Server(grpcServerOptions(limits, opts.maxMessageBytes));
  for (const b of [...bindings, extAuthz]) addGrpcService(server, b, opts.meter);
  health.addTo(server);
  addReflection(server, [
    file_tessera_v1_auth_service,
    file_tessera_v1_admin_service,
    file_tessera_v1_system_service,
    file_envoy_service_auth_v3_external_auth,
    file_grpc_health_v1_health,
    // Lets grpcurl and buf curl decode the ErrorInfo reason in error details.
    file_google_rpc_error_details,
  ]);
  // One event loop serves both ports: one budget of streams for both.
  const budget = new StreamBudget(limits.maxStreamsPerWorker, limits.maxConcurrentStreams);
  const httpServer = createHttpServer({
    bindings,
    maxMessageBytes: opts.maxMessageBytes,
    jwks: () => ({ keys: t.keys.jwks() }),
    healthy: () => health.get("") === HealthStatus.SERVING,
    tls: opts.tls,
    limits,
    budget,
    plain: plainEndpoints(t, admission),
    meter: opts.meter,
    metrics: opts.metrics,
    corsOrigins: opts.corsOrigins,
  });
  return {
    grpc: server,
    http: httpServer,
    health,
    startAdmission: () => admission.start(),
    limitGrpc: () => limitGrpcConnections(server, limits, budget),
    ready: () => health.get("") === HealthStatus.SERVING,
  };
}
