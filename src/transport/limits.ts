import type * as http2 from "node:http2";
import type * as grpc from "@grpc/grpc-js";
import type { StreamBudget } from "./stream-budget.js";

/**
 * Connection and stream limits of both ports: what one client may hold open, and how long a
 * request may take to arrive. Without them a client that sends headers or a body slowly (or
 * never finishes) holds a socket for minutes, and one connection can open streams without end.
 */
export interface TransportLimits {
  /** Streams one HTTP/2 connection may have open at once (both ports). */
  readonly maxConcurrentStreams: number;
  /** Streams one worker's HTTP/2 connections may have open at once, together (see StreamBudget). */
  readonly maxStreamsPerWorker: number;
  /** Connections one worker accepts at once, on each port. */
  readonly maxConnections: number;
  /** HTTP port: how long a client may take to send a request's headers. */
  readonly headersTimeoutMs: number;
  /** HTTP port: how long a client may take to send a whole request, body included. */
  readonly requestTimeoutMs: number;
  /** HTTP/1.1 keep-alive: an idle connection is closed after this long. */
  readonly keepAliveTimeoutMs: number;
  /** gRPC port: a connection with no call for this long is closed. */
  readonly idleConnectionMs: number;
}

export const DEFAULT_LIMITS: TransportLimits = {
  maxConcurrentStreams: 128,
  // About 50 ms of work queued per worker at this machine's ~5,000 Authorize/s (BENCHMARKS.md, overload).
  maxStreamsPerWorker: 128,
  maxConnections: 4096,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  idleConnectionMs: 15 * 60_000,
};

/** grpc-js server options for these limits (keep-alive pings find dead peers within a minute). */
export function grpcServerOptions(limits: TransportLimits, maxMessageBytes: number): Record<string, number> {
  return {
    "grpc.max_receive_message_length": maxMessageBytes,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.max_concurrent_streams": limits.maxConcurrentStreams,
    "grpc.max_connection_idle_ms": limits.idleConnectionMs,
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
  };
}

/** What grpc-js keeps of each listening HTTP/2 server (a private field: see grpcListeners). */
interface GrpcListener {
  readonly sessions: Set<http2.ServerHttp2Session>;
}

/**
 * The HTTP/2 servers a bound grpc-js server listens with, and their open sessions. grpc-js has
 * no public handle on them, so this reads its `http2Servers` field; when a grpc-js release
 * renames it this throws at start (and the transport-limits test fails), rather than the
 * limits silently going away.
 */
export function grpcListeners(server: grpc.Server): Map<http2.Http2Server, GrpcListener> {
  const listeners = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(listeners instanceof Map))
    throw new Error(
      "grpc-js no longer exposes its HTTP/2 servers (http2Servers); see src/transport/limits.ts",
    );
  return listeners as Map<http2.Http2Server, GrpcListener>;
}

/** Applies the connection cap and the worker's stream budget to a bound gRPC server. */
export function limitGrpcConnections(
  server: grpc.Server,
  limits: TransportLimits,
  budget: StreamBudget,
): void {
  for (const [listener, info] of grpcListeners(server)) {
    listener.maxConnections = limits.maxConnections;
    budget.attach(listener, info.sessions);
  }
}
