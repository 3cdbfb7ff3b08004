import type * as http from "node:http";
import { listenSidePort, type SidePort } from "./side-port.js";
import type { TlsMaterial } from "./tls.js";

/** What the health port says: whether the server lives, whether it takes calls, and why. */
export interface HealthReport {
  /** Liveness: false only when the server needs a restart (a worker stopped answering). */
  readonly live: boolean;
  /** Readiness: a worker takes calls. */
  readonly ready: boolean;
  readonly detail?: Readonly<Record<string, unknown>>;
}

export type HealthPort = SidePort;

const json = (res: http.ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
};

/**
 * The health port: `/livez` (liveness), `/readyz` and `/healthz` (readiness, as on the HTTP
 * port), nothing else. With `--workers` the cluster primary serves it from what its workers
 * report, on an event loop that answers no call, so load on the workers cannot slow it (the
 * HTTP port's /healthz waits its turn behind the calls in its worker). It carries no data a
 * client could misuse, and uses TLS when the server does.
 */
export async function listenHealthPort(
  host: string,
  port: number,
  report: () => HealthReport,
  tls?: TlsMaterial,
): Promise<HealthPort> {
  const handler: http.RequestListener = (req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (path !== "/livez" && path !== "/readyz" && path !== "/healthz")
      return json(res, 404, { error: "not found" });
    if (req.method !== "GET" && req.method !== "HEAD") return json(res, 405, { error: "method not allowed" });
    const r = report();
    const ok = path === "/livez" ? r.live : r.ready;
    json(res, ok ? 200 : 503, { status: ok ? "SERVING" : "NOT_SERVING", ...r.detail });
  };
  return listenSidePort(host, port, handler, { timeoutMs: 5_000, maxConnections: 256 }, tls);
}
