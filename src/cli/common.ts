import type { Command } from "commander";
import { loadClientConfig } from "../config/client-config.js";
import { type Clients, createClients } from "./client.js";

/** Options every client command accepts (defined once on the program). */
export interface GlobalOptions {
  readonly server?: string;
  readonly apiKey?: string;
  readonly adminToken?: string;
  readonly operatorToken?: string;
  readonly tlsCa?: string;
  readonly clientCert?: string;
  readonly clientKey?: string;
  readonly json?: boolean;
}

export function addGlobalOptions(program: Command): void {
  program
    .option("--server <url>", "gRPC address of the server (TESSERA_SERVER, default http://127.0.0.1:50051)")
    .option("--api-key <key>", "org API key (TESSERA_API_KEY)")
    .option("--admin-token <token>", "org admin token (TESSERA_ADMIN_TOKEN)")
    .option(
      "--operator-token <token>",
      "server operator token, for `operator` and `keys rotate` (TESSERA_OPERATOR_TOKEN)",
    )
    .option("--tls-ca <file>", "CA that signed the server certificate (TESSERA_CA)")
    .option("--client-cert <file>", "client certificate for mTLS (TESSERA_CLIENT_CERT)")
    .option("--client-key <file>", "client private key for mTLS (TESSERA_CLIENT_KEY)")
    .option("--json", "machine-readable output");
}

/** The clients for a command, from its global options, the environment and ~/.tessera/config. */
export function clientsFor(cmd: Command): { clients: Clients; json: boolean } {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const config = loadClientConfig({
    server: g.server,
    apiKey: g.apiKey,
    adminToken: g.adminToken,
    operatorToken: g.operatorToken,
    tlsCa: g.tlsCa,
    tlsCert: g.clientCert,
    tlsKey: g.clientKey,
  });
  return { clients: createClients(config), json: Boolean(g.json) };
}

/** True when the command asked for JSON output. */
export function wantsJson(cmd: Command): boolean {
  return Boolean(cmd.optsWithGlobals<GlobalOptions>().json);
}

/** Collects a repeatable option into a list. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
