import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { availableParallelism } from "node:os";
import { parse as parseYaml } from "yaml";
import { parseDuration } from "./duration.js";

/** Paths of the TLS material for the server ports. */
export interface TlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  /** When set, the gRPC port requires client certificates signed by this CA (mTLS). */
  readonly clientCaFile?: string | undefined;
}

/** The server's validated, frozen configuration. Every default is documented here. */
export interface Config {
  /** Where the SQLite database lives. Default `./data`. */
  readonly dataDir: string;
  /** Address both ports bind. Default `127.0.0.1`; any other address requires TLS. */
  readonly host: string;
  /** gRPC port (grpc-js, the hot path). Default 50051; 0 picks a free port. */
  readonly grpcPort: number;
  /** HTTP port (Connect, gRPC-Web, JWKS, health). Default 8080; 0 picks a free port. */
  readonly httpPort: number;
  readonly tls?: TlsConfig | undefined;
  /** `iss` of minted tokens and the only issuer accepted. Default `tessera`. */
  readonly issuer: string;
  /** `aud` of minted tokens and the only audience accepted. Default `tessera`. */
  readonly audience: string;
  /** Lifetime of a minted token when none is asked for. Default 15 minutes. */
  readonly defaultTokenTtlSeconds: number;
  /** Longest lifetime MintToken grants. Default 1 hour. */
  readonly maxTokenTtlSeconds: number;
  /** Lifetime of a refresh token (and so of an idle session). Default 7 days. */
  readonly refreshTokenTtlSeconds: number;
  /**
   * Absolute lifetime of a session: a refresh this long after the login is refused, however
   * recently the session was used. Default 24 hours.
   */
  readonly sessionMaxLifetimeSeconds: number;
  /** Longest `act` delegation chain MintToken accepts from agent minters. Default 3. */
  readonly maxDelegationDepth: number;
  /** Algorithm of new signing keys: EdDSA (default) or ES256. */
  readonly signingAlg: "EdDSA" | "ES256";
  /** Rotate the signing key automatically this often; 0 (default) rotates only on request. */
  readonly keyRotationIntervalSeconds: number;
  /** 32-byte key (base64) that encrypts signing private keys at rest; unset stores them in clear (development). */
  readonly masterKey?: Buffer | undefined;
  /** Record every Authorize decision in the decision log (batched off the hot path). Default true. */
  readonly decisionLog: boolean;
  /** Decisions older than this are deleted in the background. Default 30 days; 0 keeps them forever. */
  readonly decisionRetentionSeconds: number;
  /**
   * Per org and worker process: bytes of decision records stored one by one in each quota
   * window (`1048576`, `512KiB`, `8MiB`); beyond it the org's further decisions in the window
   * are only counted, in an overflow summary row. Default 256 MiB (a worker at full speed
   * writes about 120 MiB a minute); 0 turns the quota off.
   */
  readonly decisionLogOrgQuotaBytes: number;
  /** The window of that quota. Default 1 minute. */
  readonly decisionLogOrgQuotaWindowSeconds: number;
  /** While the decision log spills to a file, how often it tries the database again. Default 5 seconds. */
  readonly decisionLogSpillRetrySeconds: number;
  /** Clock skew tolerated when checking exp/nbf/iat. Default 10 seconds. */
  readonly clockToleranceSeconds: number;
  /** Largest request message accepted, in bytes. Default 64 KiB. */
  readonly maxMessageBytes: number;
  /** Server processes sharing the ports (node:cluster). Default: one per core; 1 runs in a single process. */
  readonly workers: number;
  /** Log level: trace, debug, info, warn, error, fatal or silent. Default info. */
  readonly logLevel: string;
  /** On first start with an empty database, create a development org and print its credentials. Default true. */
  readonly bootstrapDevOrg: boolean;
}

/** Raw settings as flags, environment or a config file give them (all optional strings or numbers). */
export type ConfigInput = Partial<
  Record<
    keyof Omit<Config, "tls"> | "tlsCert" | "tlsKey" | "tlsClientCa" | "config",
    string | number | boolean | undefined
  >
>;

/** A configuration problem, reported to the operator before anything starts. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

const ENV: Record<string, keyof ConfigInput> = {
  TESSERA_CONFIG: "config",
  TESSERA_DATA_DIR: "dataDir",
  TESSERA_HOST: "host",
  TESSERA_GRPC_PORT: "grpcPort",
  TESSERA_HTTP_PORT: "httpPort",
  TESSERA_TLS_CERT: "tlsCert",
  TESSERA_TLS_KEY: "tlsKey",
  TESSERA_TLS_CLIENT_CA: "tlsClientCa",
  TESSERA_ISSUER: "issuer",
  TESSERA_AUDIENCE: "audience",
  TESSERA_DEFAULT_TOKEN_TTL: "defaultTokenTtlSeconds",
  TESSERA_MAX_TOKEN_TTL: "maxTokenTtlSeconds",
  TESSERA_CLOCK_TOLERANCE: "clockToleranceSeconds",
  TESSERA_MAX_MESSAGE_BYTES: "maxMessageBytes",
  TESSERA_BOOTSTRAP_DEV_ORG: "bootstrapDevOrg",
  TESSERA_LOG_LEVEL: "logLevel",
  TESSERA_WORKERS: "workers",
  TESSERA_REFRESH_TOKEN_TTL: "refreshTokenTtlSeconds",
  TESSERA_SESSION_MAX_LIFETIME: "sessionMaxLifetimeSeconds",
  TESSERA_MAX_DELEGATION_DEPTH: "maxDelegationDepth",
  TESSERA_SIGNING_ALG: "signingAlg",
  TESSERA_KEY_ROTATION_INTERVAL: "keyRotationIntervalSeconds",
  TESSERA_MASTER_KEY: "masterKey",
  TESSERA_DECISION_LOG: "decisionLog",
  TESSERA_DECISION_RETENTION: "decisionRetentionSeconds",
  TESSERA_DECISION_LOG_ORG_QUOTA: "decisionLogOrgQuotaBytes",
  TESSERA_DECISION_LOG_ORG_QUOTA_WINDOW: "decisionLogOrgQuotaWindowSeconds",
  TESSERA_DECISION_LOG_SPILL_RETRY: "decisionLogSpillRetrySeconds",
};

function fromEnv(env: NodeJS.ProcessEnv): ConfigInput {
  const out: ConfigInput = {};
  for (const [name, key] of Object.entries(ENV)) {
    const v = env[name];
    if (v !== undefined && v !== "") out[key] = v;
  }
  return out;
}

function fromFile(path: string): ConfigInput {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed))
    throw new ConfigError(`config file ${path} must be a mapping`);
  return parsed as ConfigInput;
}

function port(name: string, v: unknown): number {
  const n =
    typeof v === "number" ? v : /^\d{1,5}$/.test(String(v).trim()) ? Number(String(v).trim()) : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new ConfigError(`${name} must be a port number (0-65535), got ${String(v)}`);
  return n;
}

function count(name: string, v: unknown): number {
  const n =
    typeof v === "number" ? v : /^\d{1,3}$/.test(String(v).trim()) ? Number(String(v).trim()) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 256)
    throw new ConfigError(`${name} must be a whole number from 1 to 256, got ${String(v)}`);
  return n;
}

function signingAlg(v: unknown): "EdDSA" | "ES256" {
  if (v === "EdDSA" || v === "ES256") return v;
  throw new ConfigError(`signingAlg must be EdDSA or ES256, got ${String(v)}`);
}

function masterKey(v: unknown): Buffer | undefined {
  if (v === undefined || v === "") return undefined;
  const key = Buffer.from(String(v), "base64");
  // The value itself is never echoed: it is a secret.
  if (key.length !== 32)
    throw new ConfigError("masterKey must be 32 bytes, base64-encoded (e.g. openssl rand -base64 32)");
  return key;
}

function seconds(name: string, v: unknown): number {
  const n = typeof v === "number" ? v : parseDuration(String(v));
  if (n === undefined || !Number.isInteger(n) || n < 0)
    throw new ConfigError(`${name} must be a duration like 30s, 15m or 1h`);
  return n;
}

function positiveSeconds(name: string, v: unknown): number {
  const n = seconds(name, v);
  if (n === 0) throw new ConfigError(`${name} must be positive`);
  return n;
}

const BYTE_UNITS: Record<string, number> = { "": 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

function byteSize(name: string, v: unknown): number {
  const m =
    typeof v === "number"
      ? [String(v), String(v), ""]
      : /^(\d{1,13})\s*(KiB|MiB|GiB)?$/.exec(String(v).trim());
  const n = m ? Number(m[1]) * (BYTE_UNITS[m[2] ?? ""] ?? Number.NaN) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 0)
    throw new ConfigError(`${name} must be a size in bytes like 1048576, 512KiB or 8MiB`);
  return n;
}

function bool(name: string, v: unknown): boolean {
  if (typeof v === "boolean") return v;
  if (["true", "1", "yes"].includes(String(v))) return true;
  if (["false", "0", "no"].includes(String(v))) return false;
  throw new ConfigError(`${name} must be true or false`);
}

/** True for addresses that only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."));
}

/**
 * Builds the server Config: flags over `TESSERA_*` environment variables over a config file
 * (`--config` / `TESSERA_CONFIG`) over defaults. Throws ConfigError on anything invalid.
 */
export function loadConfig(flags: ConfigInput = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const envInput = fromEnv(env);
  const given = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) as ConfigInput;
  const file = given.config ?? envInput.config;
  const merged: ConfigInput = { ...(file ? fromFile(String(file)) : {}), ...envInput, ...given };
  const get = <T>(key: keyof ConfigInput, fallback: T): unknown => merged[key] ?? fallback;
  const tlsCert = merged.tlsCert;
  const tlsKey = merged.tlsKey;
  if (Boolean(tlsCert) !== Boolean(tlsKey)) throw new ConfigError("--tls-cert and --tls-key go together");
  if (merged.tlsClientCa && !tlsCert) throw new ConfigError("--tls-client-ca needs --tls-cert and --tls-key");
  const host = String(get("host", "127.0.0.1"));
  if (!tlsCert && !isLoopback(host)) {
    throw new ConfigError(
      `refusing plaintext on ${host}: bind to a loopback address or configure --tls-cert/--tls-key`,
    );
  }
  const maxTokenTtlSeconds = seconds("maxTokenTtl", get("maxTokenTtlSeconds", 3600));
  if (maxTokenTtlSeconds === 0) throw new ConfigError("maxTokenTtl must be positive");
  const sessionMaxLifetimeSeconds = seconds("sessionMaxLifetime", get("sessionMaxLifetimeSeconds", 86400));
  if (sessionMaxLifetimeSeconds === 0) throw new ConfigError("sessionMaxLifetime must be positive");
  const config: Config = {
    dataDir: String(get("dataDir", "./data")),
    host,
    grpcPort: port("grpcPort", get("grpcPort", 50051)),
    httpPort: port("httpPort", get("httpPort", 8080)),
    tls: tlsCert
      ? {
          certFile: String(tlsCert),
          keyFile: String(tlsKey),
          clientCaFile: merged.tlsClientCa ? String(merged.tlsClientCa) : undefined,
        }
      : undefined,
    issuer: String(get("issuer", "tessera")),
    audience: String(get("audience", "tessera")),
    defaultTokenTtlSeconds: Math.min(
      seconds("defaultTokenTtl", get("defaultTokenTtlSeconds", 900)),
      maxTokenTtlSeconds,
    ),
    maxTokenTtlSeconds,
    clockToleranceSeconds: seconds("clockTolerance", get("clockToleranceSeconds", 10)),
    refreshTokenTtlSeconds: seconds("refreshTokenTtl", get("refreshTokenTtlSeconds", 7 * 86400)),
    sessionMaxLifetimeSeconds,
    maxDelegationDepth: count("maxDelegationDepth", get("maxDelegationDepth", 3)),
    signingAlg: signingAlg(get("signingAlg", "EdDSA")),
    keyRotationIntervalSeconds: seconds("keyRotationInterval", get("keyRotationIntervalSeconds", 0)),
    masterKey: masterKey(merged.masterKey),
    decisionLog: bool("decisionLog", get("decisionLog", true)),
    decisionRetentionSeconds: seconds("decisionRetention", get("decisionRetentionSeconds", 30 * 86400)),
    decisionLogOrgQuotaBytes: byteSize(
      "decisionLogOrgQuota",
      get("decisionLogOrgQuotaBytes", 256 * 1024 ** 2),
    ),
    decisionLogOrgQuotaWindowSeconds: positiveSeconds(
      "decisionLogOrgQuotaWindow",
      get("decisionLogOrgQuotaWindowSeconds", 60),
    ),
    decisionLogSpillRetrySeconds: positiveSeconds(
      "decisionLogSpillRetry",
      get("decisionLogSpillRetrySeconds", 5),
    ),
    maxMessageBytes: Number(get("maxMessageBytes", 64 * 1024)),
    logLevel: String(get("logLevel", "info")),
    workers: count("workers", get("workers", availableParallelism())),
    bootstrapDevOrg: bool("bootstrapDevOrg", get("bootstrapDevOrg", true)),
  };
  if (!LOG_LEVELS.includes(config.logLevel))
    throw new ConfigError(`logLevel must be one of ${LOG_LEVELS.join(", ")}`);
  if (!Number.isInteger(config.maxMessageBytes) || config.maxMessageBytes < 1024) {
    throw new ConfigError("maxMessageBytes must be a whole number of at least 1024");
  }
  return Object.freeze(config);
}
