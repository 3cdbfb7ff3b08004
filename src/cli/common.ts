import { existsSync } from "node:fs";
import type { Command } from "commander";
import type { Clients } from "./client.js";
import { UsageError } from "./output.js";

/** Options every command accepts (defined once on the program, shown in every command's help). */
export interface GlobalOptions {
  /** A URL; `true` when `--server` is given alone (the configured server, e.g. `policy test --server`). */
  readonly server?: string | true;
  readonly apiKey?: string;
  readonly adminToken?: string;
  readonly token?: string;
  readonly operatorToken?: string;
  readonly tlsCa?: string;
  readonly clientCert?: string;
  readonly clientKey?: string;
  readonly json?: boolean;
}

export function addGlobalOptions(program: Command): void {
  program
    .option(
      "--server [url]",
      "gRPC address of the server (TESSERA_SERVER, default http://127.0.0.1:50051); alone, `policy test` runs on the server",
    )
    .option("--api-key <key>", "org API key (TESSERA_API_KEY)")
    .option("--admin-token <token>", "org admin token, with --api-key (TESSERA_ADMIN_TOKEN)")
    .option(
      "--token <token>",
      "session token from `tessera login`, sent instead of the API key and admin token (TESSERA_TOKEN); for `check`, the subject",
    )
    .option(
      "--operator-token <token>",
      "server operator token, for `operator` and `keys rotate` (TESSERA_OPERATOR_TOKEN)",
    )
    .option("--tls-ca <file>", "CA that signed the server certificate (TESSERA_CA)")
    .option("--client-cert <file>", "client certificate for mTLS (TESSERA_CLIENT_CERT)")
    .option("--client-key <file>", "client private key for mTLS (TESSERA_CLIENT_KEY)")
    .option("--json", "machine-readable output, errors included");
}

/** An address: a URL or host:port, not a path (`policy test --server DIR` would read DIR as one). */
function serverFlag(server: string | true | undefined): string | undefined {
  if (server === undefined || server === true) return undefined;
  const address = /^(https?:\/\/)?(\[[\da-fA-F:.]+\]|[\w.-]+)(:\d+)?\/?$/.test(server);
  if (address && (/^https?:/.test(server) || !existsSync(server))) return server;
  throw new UsageError(
    `--server takes the server's address (http://host:port), not "${server}"; to run \`policy test\` on the configured server, put --server after the path`,
  );
}

/**
 * The clients for a command, from its global options, the environment and ~/.tessera/config.
 * Loads the gRPC stack and gen/ on first use, so commands that call no server never pay for it.
 * With `tokenIsSubject` (`check`), `--token` names the subject, not the caller's credential.
 */
export async function clientsFor(
  cmd: Command,
  opts: { tokenIsSubject?: boolean } = {},
): Promise<{ clients: Clients; json: boolean }> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const [{ loadClientConfig }, { createClients }] = await Promise.all([
    import("../config/client-config.js"),
    import("./client.js"),
  ]);
  const config = loadClientConfig({
    server: serverFlag(g.server),
    apiKey: g.apiKey,
    adminToken: g.adminToken,
    token: opts.tokenIsSubject ? undefined : g.token,
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
