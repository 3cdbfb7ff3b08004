import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "./config.js";
import { readDevCredentials } from "./dev-credentials.js";

/** Where the CLI finds the server and the credentials to use. */
export interface ClientConfig {
  /** Base URL of the gRPC port, e.g. `http://127.0.0.1:50051` or `https://tessera:50051`. */
  readonly server: string;
  readonly apiKey?: string | undefined;
  readonly adminToken?: string | undefined;
  /** A session token (`tessera login`), sent as `authorization: Bearer` instead of the API key and admin token. */
  readonly token?: string | undefined;
  /** The server operator's token (tso_…), for SystemService; distinct from every org's credentials. */
  readonly operatorToken?: string | undefined;
  /** PEM files for TLS: the CA that signed the server, and our client certificate and key (mTLS). */
  readonly tlsCa?: string | undefined;
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
}

export type ClientConfigInput = Partial<Record<keyof ClientConfig, string | undefined>>;

const ENV: Record<string, keyof ClientConfig> = {
  TESSERA_SERVER: "server",
  TESSERA_API_KEY: "apiKey",
  TESSERA_ADMIN_TOKEN: "adminToken",
  TESSERA_TOKEN: "token",
  TESSERA_OPERATOR_TOKEN: "operatorToken",
  TESSERA_CA: "tlsCa",
  TESSERA_CLIENT_CERT: "tlsCert",
  TESSERA_CLIENT_KEY: "tlsKey",
};

/** The default config file, `~/.tessera/config` (YAML with the same keys). */
export function defaultClientConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.HOME ?? homedir(), ".tessera", "config");
}

function fromFile(path: string): ClientConfigInput {
  if (!existsSync(path)) return {};
  const parsed = parseYaml(readFileSync(path, "utf8")) as unknown;
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed))
    throw new ConfigError(`${path} must be a YAML mapping`);
  return parsed as ClientConfigInput;
}

/**
 * The development org's credentials, when nothing names any credential: the file a local
 * server's first start wrote in its data directory (`TESSERA_DATA_DIR`, default `./data`).
 */
function devFallback(merged: ClientConfigInput, env: NodeJS.ProcessEnv): ClientConfigInput {
  if (merged.apiKey || merged.adminToken || merged.token) return {};
  const dev = readDevCredentials(env.TESSERA_DATA_DIR || "./data");
  return dev ? { server: dev.server, apiKey: dev.apiKey, adminToken: dev.adminToken } : {};
}

/**
 * The layers (lowest precedence first) merged key by key, except that a session token and the
 * API key/admin token pair are alternatives: the one named by the higher layer wins (the token
 * on a tie), so `--token` overrides exported keys and `--api-key` an exported token.
 */
function oneCredential(layers: ClientConfigInput[]): ClientConfigInput {
  const top = (has: (l: ClientConfigInput) => unknown) => layers.findLastIndex((l) => Boolean(has(l)));
  const merged: ClientConfigInput = Object.assign({}, ...layers);
  const tokenLayer = top((l) => l.token);
  if (tokenLayer < 0) return merged;
  if (tokenLayer >= top((l) => l.apiKey || l.adminToken))
    return { ...merged, apiKey: undefined, adminToken: undefined };
  return { ...merged, token: undefined };
}

/**
 * Flags, then `TESSERA_SERVER`/`TESSERA_API_KEY`/`TESSERA_ADMIN_TOKEN`/`TESSERA_TOKEN`/`TESSERA_OPERATOR_TOKEN`…, then `~/.tessera/config`,
 * then (only when none of them names a credential) a local dev server's credentials file.
 */
export function loadClientConfig(
  flags: ClientConfigInput,
  env: NodeJS.ProcessEnv = process.env,
): ClientConfig {
  const fromEnv: ClientConfigInput = {};
  for (const [name, key] of Object.entries(ENV)) if (env[name]) fromEnv[key] = env[name];
  const defined = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined && v !== ""));
  const configured = oneCredential([fromFile(defaultClientConfigPath(env)), fromEnv, defined]);
  const merged = { ...devFallback(configured, env), ...configured };
  let server = merged.server ?? "http://127.0.0.1:50051";
  if (!/^https?:\/\//.test(server))
    server = `${merged.tlsCa || merged.tlsCert ? "https" : "http"}://${server}`;
  return { ...merged, server };
}
