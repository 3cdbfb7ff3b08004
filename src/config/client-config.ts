import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { readDevCredentials } from "./dev-credentials.js";
import { ConfigError } from "./errors.js";
import { unknownKeysMessage } from "./suggest.js";
import { readYamlMapping, scalarValue } from "./yaml-file.js";

/** One setting of the CLI: its key in `~/.tessera/config`, its variable and its global flag. */
export interface ClientSetting {
  readonly env: `TESSERA_${string}`;
  readonly flag: `--${string}`;
  /** The flag's placeholder: `--server <url>`. */
  readonly arg: string;
  /** The default in words (help and docs). */
  readonly defaultText: string;
  readonly doc: string;
  /** A credential: never echoed. */
  readonly secret?: true;
}

const DEV_FALLBACK = "none (with no credential set anywhere: a local dev server's data/dev-credentials.json)";

/**
 * Every setting of the CLI: the one table from which its config file's keys, its variables and
 * docs/config.md derive. The global flags that set them are in cli/common.ts.
 */
export const CLIENT_SCHEMA = {
  server: {
    env: "TESSERA_SERVER",
    flag: "--server",
    arg: "url",
    defaultText: "http://127.0.0.1:50051",
    doc: "gRPC address of the server; without a scheme, https when a TLS file is given",
  },
  apiKey: {
    env: "TESSERA_API_KEY",
    flag: "--api-key",
    arg: "key",
    defaultText: DEV_FALLBACK,
    doc: "the org's API key (tsk_…)",
    secret: true,
  },
  adminToken: {
    env: "TESSERA_ADMIN_TOKEN",
    flag: "--admin-token",
    arg: "token",
    defaultText: DEV_FALLBACK,
    doc: "the org's admin token (tat_…), for admin commands",
    secret: true,
  },
  token: {
    env: "TESSERA_TOKEN",
    flag: "--token",
    arg: "token",
    defaultText: "none",
    doc: "a session token (`tessera login`), sent as `authorization: Bearer` instead of the API key and admin token",
    secret: true,
  },
  operatorToken: {
    env: "TESSERA_OPERATOR_TOKEN",
    flag: "--operator-token",
    arg: "token",
    defaultText: "none",
    doc: "the server operator's token (tso_…), for `operator` and `keys rotate`",
    secret: true,
  },
  tlsCa: {
    env: "TESSERA_CA",
    flag: "--tls-ca",
    arg: "file",
    defaultText: "none: the system's CAs",
    doc: "CA (PEM) that signed the server certificate",
  },
  tlsCert: {
    env: "TESSERA_CLIENT_CERT",
    flag: "--client-cert",
    arg: "file",
    defaultText: "none",
    doc: "client certificate (PEM) for mTLS",
  },
  tlsKey: {
    env: "TESSERA_CLIENT_KEY",
    flag: "--client-key",
    arg: "file",
    defaultText: "none",
    doc: "client private key (PEM) for mTLS",
  },
} as const satisfies Record<string, ClientSetting>;

export type ClientKey = keyof typeof CLIENT_SCHEMA;

/** Where the CLI finds the server and the credentials to use. */
export type ClientConfig = { readonly server: string } & {
  readonly [K in Exclude<ClientKey, "server">]?: string | undefined;
};

export type ClientConfigInput = Partial<Record<ClientKey, string | undefined>>;

const CLIENT_KEYS = Object.keys(CLIENT_SCHEMA) as ClientKey[];

/** The default config file, `~/.tessera/config` (YAML with the keys of CLIENT_SCHEMA). */
export function defaultClientConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.HOME ?? homedir(), ".tessera", "config");
}

/** The config file's settings, if it exists; a key that is not a setting is refused, naming the likely one. */
function fromFile(path: string): ClientConfigInput {
  if (!existsSync(path)) return {};
  const mapping = readYamlMapping(path, "CLI config file");
  const aliases = Object.fromEntries(
    CLIENT_KEYS.map((k) => {
      const { flag, env } = CLIENT_SCHEMA[k];
      return [k, [flag, env, env.replace(/^TESSERA_/, "")]];
    }),
  );
  const unknown = Object.keys(mapping).filter((k) => !(k in CLIENT_SCHEMA));
  if (unknown.length > 0) throw new ConfigError(unknownKeysMessage(unknown, path, aliases));
  const out: ClientConfigInput = {};
  for (const key of CLIENT_KEYS) {
    const v = scalarValue(mapping[key], `${key} in ${path}`);
    if (v !== undefined) out[key] = String(v);
  }
  return out;
}

function fromEnv(env: NodeJS.ProcessEnv): ClientConfigInput {
  const out: ClientConfigInput = {};
  for (const key of CLIENT_KEYS) {
    const v = env[CLIENT_SCHEMA[key].env];
    if (v) out[key] = v;
  }
  return out;
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
 * Flags, then the `TESSERA_*` variables, then `~/.tessera/config`, then (only when none of them
 * names a credential) a local dev server's credentials file. Throws ConfigError for a config
 * file that is not YAML or has a key that is not a setting.
 */
export function loadClientConfig(
  flags: ClientConfigInput,
  env: NodeJS.ProcessEnv = process.env,
): ClientConfig {
  const defined = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined && v !== ""));
  const configured = oneCredential([fromFile(defaultClientConfigPath(env)), fromEnv(env), defined]);
  const merged = { ...devFallback(configured, env), ...configured };
  let server = merged.server ?? CLIENT_SCHEMA.server.defaultText;
  if (!/^https?:\/\//.test(server))
    server = `${merged.tlsCa || merged.tlsCert ? "https" : "http"}://${server}`;
  return { ...merged, server };
}
