import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import type * as grpc from "@grpc/grpc-js";
import { takeConnections } from "./connection-dispatch.js";
import { type HealthPort, type HealthReport, listenHealthPort } from "./health-port.js";
import { listenMetricsPort, type MetricsSource } from "./metrics-port.js";
import type { Servers } from "./servers.js";
import type { TlsMaterial } from "./tls.js";

/** A port that could not be bound: the message names the flag and variable to change. */
export class ListenError extends Error {
  override readonly name = "ListenError";
}

export interface ListenAddress {
  readonly host: string;
  readonly grpcPort: number;
  readonly httpPort: number;
}

/** Why a bind failed, in the words an operator acts on. */
function why(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  if (/EADDRINUSE/.test(text)) return "the port is already in use";
  if (/EACCES/.test(text)) return "permission denied (ports below 1024 need privileges)";
  if (/EADDRNOTAVAIL|ENOTFOUND/.test(text)) return "this machine has no such address (see --host)";
  return text.split("\n")[0] ?? text;
}

function bindGrpc(server: grpc.Server, address: string, creds: grpc.ServerCredentials): Promise<number> {
  return promisify(server.bindAsync.bind(server))(address, creds);
}

/**
 * Binds both ports, or neither: when the second fails the first is released, and the error
 * names the flag to change. Nothing is created before both are bound.
 */
export async function listenBoth(
  servers: Servers,
  at: ListenAddress,
  creds: grpc.ServerCredentials,
): Promise<{ grpcPort: number; httpPort: number }> {
  const host = at.host.includes(":") ? `[${at.host}]` : at.host;
  let grpcPort: number;
  try {
    grpcPort = await bindGrpc(servers.grpc, `${host}:${at.grpcPort}`, creds);
  } catch (err) {
    throw grpcListenError(at.host, at.grpcPort, err);
  }
  servers.limitGrpc();
  try {
    return { grpcPort, httpPort: await listenHttp(servers, at) };
  } catch (err) {
    servers.grpc.forceShutdown();
    throw err;
  }
}

/** Why the gRPC port could not be bound, naming its flag (the primary binds it too, with --workers). */
export function grpcListenError(host: string, port: number, err: unknown): ListenError {
  const shown = host.includes(":") ? `[${host}]` : host;
  return new ListenError(
    `cannot listen for gRPC on ${shown}:${port}: ${why(err)}; choose another with --grpc-port (TESSERA_GRPC_PORT)`,
  );
}

async function listenHttp(servers: Servers, at: ListenAddress): Promise<number> {
  try {
    await new Promise<void>((resolve, reject) => {
      servers.http.once("error", reject);
      servers.http.listen(at.httpPort, at.host, () => {
        servers.http.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    const host = at.host.includes(":") ? `[${at.host}]` : at.host;
    throw new ListenError(
      `cannot listen for HTTP on ${host}:${at.httpPort}: ${why(err)}; choose another with --http-port (TESSERA_HTTP_PORT)`,
    );
  }
  return (servers.http.address() as AddressInfo).port;
}

/**
 * A cluster worker: the gRPC connections come from the primary, which holds the port
 * (connection-dispatch.ts); the HTTP port is bound as usual (shared by the workers). Each
 * worker holds at most `maxConnections` of the connections handed to it, as a listener would.
 */
export async function listenHandedGrpc(
  servers: Servers,
  at: ListenAddress,
  creds: grpc.ServerCredentials,
  maxConnections: number,
): Promise<{ grpcPort: number; httpPort: number }> {
  const injector = servers.grpc.createConnectionInjector(creds);
  servers.limitGrpc();
  let open = 0;
  const stop = takeConnections((socket) => {
    if (open >= maxConnections) return void socket.destroy();
    open++;
    socket.once("close", () => open--);
    injector.injectConnection(socket);
  });
  try {
    return { grpcPort: at.grpcPort, httpPort: await listenHttp(servers, at) };
  } catch (err) {
    stop();
    servers.grpc.forceShutdown();
    throw err;
  }
}

/** Binds the health port, or throws a ListenError naming its flag. */
export async function listenHealth(
  host: string,
  port: number,
  report: () => HealthReport,
  tls?: TlsMaterial,
): Promise<HealthPort> {
  try {
    return await listenHealthPort(host, port, report, tls);
  } catch (err) {
    const shown = host.includes(":") ? `[${host}]` : host;
    throw new ListenError(
      `cannot listen for health checks on ${shown}:${port}: ${why(err)}; choose another with --health-port (TESSERA_HEALTH_PORT)`,
    );
  }
}

/** Binds the metrics port, or throws a ListenError naming its flag. */
export async function listenMetrics(
  host: string,
  port: number,
  metrics: MetricsSource,
  tls?: TlsMaterial,
): Promise<HealthPort> {
  try {
    return await listenMetricsPort(host, port, metrics, tls);
  } catch (err) {
    const shown = host.includes(":") ? `[${host}]` : host;
    throw new ListenError(
      `cannot listen for metrics on ${shown}:${port}: ${why(err)}; choose another with --metrics-port (TESSERA_METRICS_PORT)`,
    );
  }
}
