import { readFileSync } from "node:fs";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import type { ClientConfig } from "../config/client-config.js";

/** Typed clients for the server's gRPC port, with the configured credentials. */
export interface Clients {
  readonly auth: Client<typeof AuthService>;
  readonly admin: Client<typeof AdminService>;
  /** Headers proving admin authority (x-api-key + x-admin-token), as far as configured. */
  adminHeaders(): Record<string, string>;
  /** Headers naming the caller's org (x-api-key), as far as configured. */
  orgHeaders(): Record<string, string>;
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
    adminHeaders: () =>
      pick([
        ["x-api-key", c.apiKey],
        ["x-admin-token", c.adminToken],
      ]),
    orgHeaders: () => pick([["x-api-key", c.apiKey]]),
  };
}
