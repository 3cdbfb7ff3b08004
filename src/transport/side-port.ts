import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import type { TlsMaterial } from "./tls.js";

/** A small port beside the service ports (health, metrics): where it listens, and how to close it. */
export interface SidePort {
  readonly port: number;
  close(): Promise<void>;
}

/** How a side port bounds its clients: slow requests, and how many connections at once. */
export interface SidePortLimits {
  readonly timeoutMs: number;
  readonly maxConnections: number;
}

/**
 * Listens with `handler` on HTTP/1.1, over TLS when the server uses it. Resolves once listening;
 * rejects when the port cannot be had (in use, no permission), so the caller can name its flag.
 */
export async function listenSidePort(
  host: string,
  port: number,
  handler: http.RequestListener,
  limits: SidePortLimits,
  tls?: TlsMaterial,
): Promise<SidePort> {
  const options = {
    headersTimeout: limits.timeoutMs,
    requestTimeout: limits.timeoutMs,
    keepAliveTimeout: 5_000,
  };
  const server = tls
    ? https.createServer({ ...options, cert: tls.cert, key: tls.key }, handler)
    : http.createServer(options, handler);
  server.maxConnections = limits.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
