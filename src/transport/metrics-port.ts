import type * as http from "node:http";
import type { HealthPort } from "./health-port.js";
import { listenSidePort } from "./side-port.js";
import type { TlsMaterial } from "./tls.js";

/** The metrics text and its content type, as GET /metrics answers them. */
export type MetricsSource = () => Promise<{ readonly contentType: string; readonly text: string }>;

/**
 * The metrics port: GET /metrics (Prometheus text), nothing else. With --workers the cluster
 * primary serves it, summing every worker's metrics; a single process serves its own. Uses TLS
 * when the server does. A scrape that cannot be answered (a worker silent) gets 503.
 */
export async function listenMetricsPort(
  host: string,
  port: number,
  metrics: MetricsSource,
  tls?: TlsMaterial,
): Promise<HealthPort> {
  const handler: http.RequestListener = (req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (path !== "/metrics") return plain(res, 404, "not found\n");
    if (req.method !== "GET" && req.method !== "HEAD") return plain(res, 405, "method not allowed\n");
    metrics().then(
      ({ contentType, text }) => {
        res.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(text) });
        res.end(req.method === "HEAD" ? undefined : text);
      },
      () => plain(res, 503, "metrics unavailable\n"),
    );
  };
  return listenSidePort(host, port, handler, { timeoutMs: 10_000, maxConnections: 64 }, tls);
}

function plain(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}
