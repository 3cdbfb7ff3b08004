import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import type { TlsConfig } from "../config/config.js";

/** The PEM material of a TlsConfig, read from disk. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa?: Buffer | undefined;
}

export function readTls(tls: TlsConfig): TlsMaterial {
  return {
    cert: readFileSync(tls.certFile),
    key: readFileSync(tls.keyFile),
    clientCa: tls.clientCaFile ? readFileSync(tls.clientCaFile) : undefined,
  };
}

/**
 * gRPC port credentials: plaintext without TLS; with a client CA, the handshake requires a
 * client certificate that CA signed, so no handler runs for anyone else.
 */
export function grpcServerCredentials(tls: TlsMaterial | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    tls.clientCa ?? null,
    [{ private_key: tls.key, cert_chain: tls.cert }],
    tls.clientCa !== undefined,
  );
}
