import type * as http2 from "node:http2";

type Session = http2.ServerHttp2Session;

/**
 * A worker's budget of concurrent HTTP/2 streams, shared among its connections. Each connection
 * is told (SETTINGS_MAX_CONCURRENT_STREAMS) its share, so a crowd of clients queues on its own
 * side instead of in this worker: 200 connections × 100 streams would otherwise put 20,000
 * calls in one event loop, where every call, health checks included, waits seconds behind the
 * others and memory grows by hundreds of MiB. HTTP/2 clients must honour the setting (grpc-js,
 * grpc-go, Envoy and nghttp2 do); a stream opened beyond it is refused with REFUSED_STREAM,
 * which clients retry.
 *
 * A connection's share is the budget divided by the connections, rounded down to a power of
 * two (so a connection arriving or leaving rarely changes it), at least 1 and at most the
 * per-connection limit.
 */
export class StreamBudget {
  private readonly sessions = new Set<Session>();
  private readonly servers: (http2.Http2Server | http2.Http2SecureServer)[] = [];
  private share: number;

  constructor(
    private readonly budget: number,
    private readonly perConnection: number,
  ) {
    this.share = perConnection;
  }

  /** Counts `server`'s connections, those open already included. */
  attach(server: http2.Http2Server | http2.Http2SecureServer, open: Iterable<Session> = []): void {
    this.servers.push(server);
    for (const s of open) this.add(s);
    server.on("session", (s: Session) => this.add(s));
  }

  private add(session: Session): void {
    if (this.sessions.has(session) || session.destroyed) return;
    this.sessions.add(session);
    session.once("close", () => {
      this.sessions.delete(session);
      this.rebalance();
    });
    if (!this.rebalance() && this.share < this.perConnection) tell(session, this.share);
  }

  /** Recomputes the share; when it changed, tells every connection. Returns whether it did. */
  private rebalance(): boolean {
    const fair = Math.max(1, Math.floor(this.budget / Math.max(1, this.sessions.size)));
    const next = Math.min(this.perConnection, 2 ** Math.floor(Math.log2(fair)));
    if (next === this.share) return false;
    this.share = next;
    // New connections get the share in their first SETTINGS, before they can open a stream.
    for (const server of this.servers) server.updateSettings({ maxConcurrentStreams: next });
    for (const s of this.sessions) tell(s, next);
    return true;
  }
}

function tell(session: Session, streams: number): void {
  if (session.destroyed || session.closed) return;
  try {
    session.settings({ maxConcurrentStreams: streams });
  } catch {
    // Too many SETTINGS not yet acknowledged by this peer: it keeps its last share until the next change.
  }
}
