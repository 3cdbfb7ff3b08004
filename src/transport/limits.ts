/**
 * Connection and stream limits of both ports: what one client may hold open, and how long a
 * request may take to arrive. Without them a client that sends headers or a body slowly (or
 * never finishes) holds a socket for minutes, and one connection can open streams without end.
 */
export interface TransportLimits {
  /** Streams one HTTP/2 connection may have open at once (both ports). */
  readonly maxConcurrentStreams: number;
  /** HTTP port: connections one worker accepts at once. */
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
