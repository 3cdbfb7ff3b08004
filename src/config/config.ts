import { isIP } from "node:net";
import { ConfigError } from "./errors.js";
import { SCHEMA, SETTING_KEYS, type Setting, type SettingKey, type Settings } from "./schema.js";
import { type ConfigInput, envLayer, fileLayer, flagLayer, type Layer, nameIn } from "./sources.js";
import { BadValue } from "./values.js";

export { ConfigError } from "./errors.js";
export type { ConfigInput } from "./sources.js";

/** Paths of the TLS material for the server ports. */
export interface TlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  /** When set, the gRPC port requires client certificates signed by this CA (mTLS). */
  readonly clientCaFile?: string | undefined;
}

/**
 * The server's validated, frozen configuration: every setting of src/config/schema.ts (where
 * each is documented, with its default; docs/config.md is generated from it), with the TLS
 * files grouped as `tls`.
 */
export type Config = Omit<Settings, "config" | "tlsCert" | "tlsKey" | "tlsClientCa"> & {
  readonly tls?: TlsConfig | undefined;
};

/** True for addresses that only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."));
}

/** The value as written, for a refusal: bounded, and never for a secret. */
function shown(raw: unknown, secret: boolean | undefined): string {
  if (secret) return "";
  const text = JSON.stringify(raw);
  return `, got ${text.length > 80 ? `${text.slice(0, 80)}…` : text}`;
}

/** One setting from the first layer that gives it, else its default; a bad value names its source. */
function readSetting(key: SettingKey, layers: readonly Layer[]): unknown {
  const setting = SCHEMA[key] as Setting<unknown, unknown>;
  for (const layer of layers) {
    const raw = layer.values[key];
    if (raw === undefined) continue;
    try {
      return setting.type.parse(raw);
    } catch (err) {
      if (!(err instanceof BadValue)) throw err;
      throw new ConfigError(
        `${nameIn(key, layer.origin)} must be ${setting.type.expects}${shown(raw, setting.secret)}`,
      );
    }
  }
  return setting.default;
}

/** Each setting's names, for a refusal that spans two: `tlsCert (--tls-cert, TESSERA_TLS_CERT)`. */
function named(key: SettingKey): string {
  const s = SCHEMA[key] as Setting<unknown, unknown>;
  return `${key} (${s.flag}, ${s.env})`;
}

/** The rules that span several settings; the result is what the server runs with. */
function assemble(s: Settings): Config {
  const { config: _file, tlsCert, tlsKey, tlsClientCa, ...rest } = s;
  if (Boolean(tlsCert) !== Boolean(tlsKey))
    throw new ConfigError(`${named("tlsCert")} and ${named("tlsKey")} go together`);
  if (tlsClientCa && !tlsCert)
    throw new ConfigError(`${named("tlsClientCa")} needs ${named("tlsCert")} and ${named("tlsKey")}`);
  if (!tlsCert && !isLoopback(s.host)) {
    throw new ConfigError(
      `refusing plaintext on ${s.host}: bind to a loopback address (--host) or configure TLS (--tls-cert and --tls-key)`,
    );
  }
  return {
    ...rest,
    // A default lifetime longer than the longest one allowed would only ever be cut.
    defaultTokenTtlSeconds: Math.min(s.defaultTokenTtlSeconds, s.maxTokenTtlSeconds),
    tls: tlsCert && tlsKey ? { certFile: tlsCert, keyFile: tlsKey, clientCaFile: tlsClientCa } : undefined,
  };
}

/**
 * Builds the server Config: flags over `TESSERA_*` environment variables over the config file
 * (`--config` / `TESSERA_CONFIG`) over defaults, each setting as src/config/schema.ts describes
 * it. Throws ConfigError, naming the flag, variable or file key, on an unknown file key or an
 * invalid value.
 */
export function loadConfig(flags: ConfigInput = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const given = [flagLayer(flags), envLayer(env)];
  const file = readSetting("config", given) as string | undefined;
  const layers = file === undefined ? given : [...given, fileLayer(file)];
  const settings = Object.fromEntries(SETTING_KEYS.map((k) => [k, readSetting(k, layers)])) as Settings;
  return Object.freeze(assemble(settings));
}
