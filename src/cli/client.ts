import { readFileSync } from "node:fs";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import { SystemService } from "../../gen/tessera/v1/system_service_pb.js";
import type { ClientConfig } from "../config/client-config.js";
import { UsageError } from "./output.js";

/** Typed clients for the server's gRPC port, with the configured credentials. */
export interface Clients {
  readonly auth: Client<typeof AuthService>;
  readonly admin: Client<typeof AdminService>;
  readonly system: Client<typeof SystemService>;
  /** Headers proving admin authority (x-api-key + x-admin-token), as far as configured. */
  adminHeaders(): Record<string, string>;
  /** Headers naming the caller's org (x-api-key), as far as configured. */
  orgHeaders(): Record<string, string>;
  /** The operator token header; a usage error when no operator token is configured. */
  operatorHeaders(): Record<string, string>;
}

function transport(c: ClientConfig): Transport {
  const read = (p: string | undefined) => (p ? readFileSync(p) : undefined);
  const ca = read(c.tlsCa);
  const cert = read(c.tlsCert);
  const key = read(c.tlsKey);
  return createGrpcTransport({
    baseUrl: c.server,
    nodeOptions: { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) },
  });
}

export function createClients(c: ClientConfig): Clients {
  const t = transport(c);
  const pick = (entries: [string, string | undefined][]) =>
    Object.fromEntries(entries.filter((e): e is [string, string] => Boolean(e[1])));
  return {
    auth: createClient(AuthService, t),
    admin: createClient(AdminService, t),
    system: createClient(SystemService, t),
    adminHeaders: () =>
      pick([
        ["x-api-key", c.apiKey],
        ["x-admin-token", c.adminToken],
      ]),
    orgHeaders: () => pick([["x-api-key", c.apiKey]]),
    operatorHeaders: () => {
      if (!c.operatorToken)
        throw new UsageError(
          "this command needs the operator token: --operator-token or TESSERA_OPERATOR_TOKEN (create one with `tessera operator token create --data-dir D`)",
        );
      return { "x-operator-token": c.operatorToken };
    },
  };
}
