import { type Config, isLoopback } from "../../config/config.js";
import { type Check, finding } from "../check.js";

/** A port the server opens: its name, its flag, and the address it binds. */
interface Listener {
  readonly name: string;
  readonly flag: string;
  readonly host: string;
  readonly port: number;
}

/** Every port the server opens (they share --host, and the TLS settings). */
export function listeners(config: Config): Listener[] {
  const all: Listener[] = [
    { name: "gRPC port", flag: "--grpc-port", host: config.host, port: config.grpcPort },
    { name: "HTTP port", flag: "--http-port", host: config.host, port: config.httpPort },
  ];
  if (config.healthPort !== undefined)
    all.push({ name: "health port", flag: "--health-port", host: config.host, port: config.healthPort });
  return all;
}

/** Off loopback, every port speaks TLS. */
export const tlsOffLoopback: Check = {
  id: "tls-off-loopback",
  codes: ["PROD_PLAINTEXT_LISTENER"],
  title: "every port reachable from other machines speaks TLS",
  severity: "fatal",
  run: (config) =>
    config.tls
      ? []
      : listeners(config)
          .filter((l) => !isLoopback(l.host))
          .map((l) =>
            finding(
              "PROD_PLAINTEXT_LISTENER",
              `the ${l.name} (${l.flag} ${l.port}) listens on ${l.host} without TLS: set --tls-cert and --tls-key, or bind a loopback address (--host 127.0.0.1) behind a TLS proxy`,
            ),
          ),
};

/** A gRPC port with TLS asks for client certificates. */
export const grpcClientCa: Check = {
  id: "grpc-client-ca",
  codes: ["PROD_GRPC_NO_CLIENT_CA"],
  title: "the gRPC port with TLS requires client certificates (mTLS)",
  severity: "fatal",
  run: (config) =>
    config.tls && !config.tls.clientCaFile
      ? [
          finding(
            "PROD_GRPC_NO_CLIENT_CA",
            "the gRPC port has TLS but asks for no client certificate: set --tls-client-ca (TESSERA_TLS_CLIENT_CA) to the CA that signs your workloads' certificates",
          ),
        ]
      : [],
};
