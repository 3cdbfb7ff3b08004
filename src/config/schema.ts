import { availableParallelism } from "node:os";
import { originList } from "./cors-origins.js";
import {
  base64Key,
  bool,
  bytes,
  count,
  databaseUrl,
  duration,
  oneOf,
  port,
  text,
  type ValueType,
} from "./values.js";

/** Sections of `serve --help` and of docs/config.md, in order. */
export const GROUPS = [
  "Listening",
  "Storage",
  "TLS",
  "Tokens",
  "Signing keys",
  "Decision log",
  "Process and logs",
] as const;
export type Group = (typeof GROUPS)[number];

/**
 * One server setting: its file key (the table's key), environment variable and `serve` flag,
 * how its value is read, its default and one line saying what it does. `D` is the default's
 * type: `undefined` makes the setting optional.
 */
export interface Setting<T, D extends T | undefined = T> {
  readonly env: `TESSERA_${string}`;
  readonly flag: `--${string}`;
  readonly type: ValueType<T>;
  // NoInfer: the value type comes from `type`, so a default of "EdDSA" does not widen it to string.
  readonly default: NoInfer<D>;
  /** The default in words, where showing the value would not say it (computed, or unset). */
  readonly defaultText?: string;
  /** One line: what it does (help and docs). */
  readonly doc: string;
  readonly group: Group;
  /** Never echoed: not in help, docs, errors or logs. */
  readonly secret?: true;
  /** False for `config` itself: a config file cannot name another. */
  readonly inFile?: false;
}

/** A setting that always has a value. */
const setting = <T>(s: Setting<T, T>): Setting<T, T> => s;
/** A setting that may stay unset (its default is undefined). */
const optional = <T>(s: Setting<T, undefined>): Setting<T, undefined> => s;

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export const LOG_FORMATS = ["auto", "pretty", "json"] as const;
export const SIGNING_ALGS = ["EdDSA", "ES256"] as const;
/** When an Authorize answer may leave: before its decision is durable (async) or only after (sync). */
export const DECISION_LOG_DURABILITIES = ["async", "sync"] as const;
/** development: as convenient as safe on one machine; production: refuse to start unless `tessera doctor` passes. */
export const MODES = ["development", "production"] as const;

/**
 * Every setting of `tessera serve`: the one table from which loadConfig, the refusal of unknown
 * file keys, the `serve` flags and docs/config.md (`npm run docs:config`) are all derived.
 */
export const SCHEMA = {
  config: optional({
    env: "TESSERA_CONFIG",
    flag: "--config",
    type: text("file"),
    default: undefined,
    defaultText: "none",
    doc: "YAML file of settings, keyed as in docs/config.md (flags and environment variables win over it)",
    group: "Listening",
    inFile: false,
  }),
  dataDir: setting({
    env: "TESSERA_DATA_DIR",
    flag: "--data-dir",
    type: text("dir"),
    default: "./data",
    doc: "where the SQLite database (and a development org's credentials file) live; with --database, this replica's own files only",
    group: "Storage",
  }),
  database: optional({
    env: "TESSERA_DATABASE_URL",
    flag: "--database",
    type: databaseUrl,
    default: undefined,
    defaultText: "the embedded SQLite database in --data-dir",
    doc: "postgres://user:password@host:5432/db to share one PostgreSQL database between replicas",
    group: "Storage",
    secret: true,
  }),
  maxStalenessSeconds: setting({
    env: "TESSERA_MAX_STALENESS",
    flag: "--max-staleness",
    type: duration({ positive: true }),
    default: 10,
    doc: "a replica that has not read the store's changes for this long says NOT_SERVING (it keeps deciding from memory)",
    group: "Storage",
  }),
  host: setting({
    env: "TESSERA_HOST",
    flag: "--host",
    type: text("address"),
    default: "127.0.0.1",
    doc: "address both ports bind; any address other than loopback needs TLS",
    group: "Listening",
  }),
  grpcPort: setting({
    env: "TESSERA_GRPC_PORT",
    flag: "--grpc-port",
    type: port,
    default: 50051,
    doc: "gRPC port (grpc-js, the Authorize hot path); 0 picks a free port",
    group: "Listening",
  }),
  httpPort: setting({
    env: "TESSERA_HTTP_PORT",
    flag: "--http-port",
    type: port,
    default: 8080,
    doc: "HTTP port (Connect, gRPC-Web, JWKS, health); 0 picks a free port",
    group: "Listening",
  }),
  corsOrigins: setting({
    env: "TESSERA_CORS_ORIGINS",
    flag: "--cors-origins",
    type: originList,
    default: [],
    defaultText: "none: no CORS headers, browsers on other origins are refused",
    doc: "browser origins (exact, comma-separated, e.g. https://app.example.com) allowed to call the HTTP port's Connect, gRPC-Web, AuthZEN and JWKS paths (CORS); * allows any, for development only",
    group: "Listening",
  }),
  healthPort: optional({
    env: "TESSERA_HEALTH_PORT",
    flag: "--health-port",
    type: port,
    default: undefined,
    defaultText: "none",
    doc: "a port answering only /livez, /readyz and /healthz; with --workers the primary answers, so load on the workers cannot slow it; 0 picks a free port",
    group: "Listening",
  }),
  maxMessageBytes: setting({
    env: "TESSERA_MAX_MESSAGE_BYTES",
    flag: "--max-message-bytes",
    type: bytes(1024, 2 ** 31 - 1),
    default: 64 * 1024,
    doc: "largest request message accepted; a larger one is refused with RESOURCE_EXHAUSTED",
    group: "Listening",
  }),
  maxInFlight: setting({
    env: "TESSERA_MAX_IN_FLIGHT",
    flag: "--max-in-flight",
    type: count(1, 1_000_000),
    default: 1024,
    doc: "calls one worker may have waiting at once (I/O, signatures, policy checks); beyond, RESOURCE_EXHAUSTED OVERLOADED",
    group: "Listening",
  }),
  rateLimitKeyRps: setting({
    env: "TESSERA_RATE_LIMIT_KEY_RPS",
    flag: "--rate-limit-key-rps",
    type: count(0, 1_000_000),
    default: 0,
    doc: "requests per second each API key (or mTLS identity, user session) of every org may send; 0 = no limit; a key's own limit (api-keys limit) wins; over it, RESOURCE_EXHAUSTED RATE_LIMITED (HTTP 429)",
    group: "Listening",
  }),
  rateLimitKeyBurst: setting({
    env: "TESSERA_RATE_LIMIT_KEY_BURST",
    flag: "--rate-limit-key-burst",
    type: count(0, 1_000_000),
    default: 0,
    doc: "requests an API key may send at once after a quiet spell; 0 = the rate itself",
    group: "Listening",
  }),
  rateLimitAgentRps: setting({
    env: "TESSERA_RATE_LIMIT_AGENT_RPS",
    flag: "--rate-limit-agent-rps",
    type: count(0, 1_000_000),
    default: 0,
    doc: "requests per second each agent (its tokens) may send; 0 = no limit; over it, RESOURCE_EXHAUSTED RATE_LIMITED (HTTP 429)",
    group: "Listening",
  }),
  rateLimitAgentBurst: setting({
    env: "TESSERA_RATE_LIMIT_AGENT_BURST",
    flag: "--rate-limit-agent-burst",
    type: count(0, 1_000_000),
    default: 0,
    doc: "requests an agent may send at once; 0 = the rate itself",
    group: "Listening",
  }),
  rateLimitOrgRps: setting({
    env: "TESSERA_RATE_LIMIT_ORG_RPS",
    flag: "--rate-limit-org-rps",
    type: count(0, 1_000_000),
    default: 0,
    doc: "requests per second all of an org's credentials may send together; 0 = no limit; over it, RESOURCE_EXHAUSTED RATE_LIMITED (HTTP 429)",
    group: "Listening",
  }),
  rateLimitOrgBurst: setting({
    env: "TESSERA_RATE_LIMIT_ORG_BURST",
    flag: "--rate-limit-org-burst",
    type: count(0, 1_000_000),
    default: 0,
    doc: "requests an org may send at once; 0 = the rate itself",
    group: "Listening",
  }),
  maxStreams: setting({
    env: "TESSERA_MAX_STREAMS",
    flag: "--max-streams",
    type: count(1, 1_000_000),
    default: 128,
    doc: "HTTP/2 streams one worker's connections may have open together; each connection is told its share, so a crowd of clients queues on its own side",
    group: "Listening",
  }),
  maxConnections: setting({
    env: "TESSERA_MAX_CONNECTIONS",
    flag: "--max-connections",
    type: count(1, 1_000_000),
    default: 4096,
    doc: "connections one worker accepts at once on each port; beyond, new connections are closed at once",
    group: "Listening",
  }),
  maxEventLoopLagMs: setting({
    env: "TESSERA_MAX_EVENT_LOOP_LAG_MS",
    flag: "--max-event-loop-lag-ms",
    type: count(10, 60_000),
    default: 200,
    doc: "event-loop lag (ms) above which a worker refuses new calls (OVERLOADED, readiness NOT_SERVING) until it halves",
    group: "Listening",
  }),
  tlsCert: optional({
    env: "TESSERA_TLS_CERT",
    flag: "--tls-cert",
    type: text("file"),
    default: undefined,
    defaultText: "none: plaintext, on loopback only",
    doc: "server certificate (PEM) for both ports, with its key",
    group: "TLS",
  }),
  tlsKey: optional({
    env: "TESSERA_TLS_KEY",
    flag: "--tls-key",
    type: text("file"),
    default: undefined,
    defaultText: "none",
    doc: "private key (PEM) of the server certificate",
    group: "TLS",
  }),
  tlsClientCa: optional({
    env: "TESSERA_TLS_CLIENT_CA",
    flag: "--tls-client-ca",
    type: text("file"),
    default: undefined,
    defaultText: "none: no client certificates asked for",
    doc: "require client certificates signed by this CA (PEM) on the gRPC port (mTLS); needs the server certificate",
    group: "TLS",
  }),
  issuer: setting({
    env: "TESSERA_ISSUER",
    flag: "--issuer",
    type: text("name"),
    default: "tessera",
    doc: "`iss` of minted tokens, and the only issuer accepted",
    group: "Tokens",
  }),
  audience: setting({
    env: "TESSERA_AUDIENCE",
    flag: "--audience",
    type: text("name"),
    default: "tessera",
    doc: "`aud` of minted tokens, and the only audience accepted",
    group: "Tokens",
  }),
  defaultTokenTtlSeconds: setting({
    env: "TESSERA_DEFAULT_TOKEN_TTL",
    flag: "--default-token-ttl",
    type: duration({ positive: false }),
    default: 900,
    doc: "lifetime of a minted token when none is asked for (at most the max token TTL)",
    group: "Tokens",
  }),
  maxTokenTtlSeconds: setting({
    env: "TESSERA_MAX_TOKEN_TTL",
    flag: "--max-token-ttl",
    type: duration({ positive: true }),
    default: 3600,
    doc: "longest token lifetime MintToken grants",
    group: "Tokens",
  }),
  clockToleranceSeconds: setting({
    env: "TESSERA_CLOCK_TOLERANCE",
    flag: "--clock-tolerance",
    type: duration({ positive: false }),
    default: 10,
    doc: "clock skew tolerated when checking a token's exp, nbf and iat",
    group: "Tokens",
  }),
  refreshTokenTtlSeconds: setting({
    env: "TESSERA_REFRESH_TOKEN_TTL",
    flag: "--refresh-token-ttl",
    type: duration({ positive: false }),
    default: 7 * 86400,
    doc: "lifetime of a refresh token, and so of an idle session",
    group: "Tokens",
  }),
  sessionMaxLifetimeSeconds: setting({
    env: "TESSERA_SESSION_MAX_LIFETIME",
    flag: "--session-max-lifetime",
    type: duration({ positive: true }),
    default: 86400,
    doc: "absolute lifetime of a session: a refresh this long after the login is refused",
    group: "Tokens",
  }),
  maxDelegationDepth: setting({
    env: "TESSERA_MAX_DELEGATION_DEPTH",
    flag: "--max-delegation-depth",
    type: count(1, 256),
    default: 3,
    doc: "longest `act` delegation chain MintToken (from agent minters) and Authorize with mint accept",
    group: "Tokens",
  }),
  signingAlg: setting({
    env: "TESSERA_SIGNING_ALG",
    flag: "--signing-alg",
    type: oneOf("alg", SIGNING_ALGS),
    default: "EdDSA",
    doc: "algorithm of new signing keys: EdDSA or ES256",
    group: "Signing keys",
  }),
  keyRotationIntervalSeconds: setting({
    env: "TESSERA_KEY_ROTATION_INTERVAL",
    flag: "--key-rotation-interval",
    type: duration({ positive: false }),
    default: 0,
    defaultText: "0: only on request",
    doc: "rotate the signing key automatically this often; 0 rotates only on request",
    group: "Signing keys",
  }),
  masterKey: optional({
    env: "TESSERA_MASTER_KEY",
    flag: "--master-key",
    type: base64Key(32),
    default: undefined,
    defaultText: "unset: signing keys stored in clear (development only)",
    doc: "32-byte key (base64) encrypting signing private keys at rest; prefer the variable or file, as other local users can read a command line",
    group: "Signing keys",
    secret: true,
  }),
  decisionLog: setting({
    env: "TESSERA_DECISION_LOG",
    flag: "--decision-log",
    type: bool,
    default: true,
    doc: "record every Authorize decision in the decision log (in batches, off the hot path)",
    group: "Decision log",
  }),
  decisionLogDurability: setting({
    env: "TESSERA_DECISION_LOG_DURABILITY",
    flag: "--decision-log-durability",
    type: oneOf("mode", DECISION_LOG_DURABILITIES),
    default: "async",
    doc: "async: answer at once, a process crash loses at most 100 ms' worth of answered decisions; sync: answer only once the decision is committed and fsync'd (group commit)",
    group: "Decision log",
  }),
  decisionRetentionSeconds: setting({
    env: "TESSERA_DECISION_RETENTION",
    flag: "--decision-retention",
    type: duration({ positive: false }),
    default: 30 * 86400,
    doc: "decisions older than this are deleted in the background; 0 keeps them forever",
    group: "Decision log",
  }),
  decisionLogOrgQuotaBytes: setting({
    env: "TESSERA_DECISION_LOG_ORG_QUOTA",
    flag: "--decision-log-org-quota",
    type: bytes(0, Number.MAX_SAFE_INTEGER),
    default: 256 * 1024 ** 2,
    doc: "per org and worker, bytes of decisions stored one by one in each quota window (beyond it, only counted); 0 turns the quota off",
    group: "Decision log",
  }),
  decisionLogOrgQuotaWindowSeconds: setting({
    env: "TESSERA_DECISION_LOG_ORG_QUOTA_WINDOW",
    flag: "--decision-log-org-quota-window",
    type: duration({ positive: true }),
    default: 60,
    doc: "the window of the per-org decision quota",
    group: "Decision log",
  }),
  decisionLogSpillRetrySeconds: setting({
    env: "TESSERA_DECISION_LOG_SPILL_RETRY",
    flag: "--decision-log-spill-retry",
    type: duration({ positive: true }),
    default: 5,
    doc: "while the decision log spills to a file, how often it tries the database again",
    group: "Decision log",
  }),
  mode: setting({
    env: "TESSERA_MODE",
    flag: "--mode",
    type: oneOf("mode", MODES),
    default: "development",
    doc: "production refuses to start (listing every problem) unless the production checklist passes (tessera doctor), and never creates a development org",
    group: "Process and logs",
  }),
  workers: setting({
    env: "TESSERA_WORKERS",
    flag: "--workers",
    type: count(1, 256),
    default: availableParallelism(),
    defaultText: "one per CPU core",
    doc: "server processes sharing the ports (node:cluster); 1 runs a single process",
    group: "Process and logs",
  }),
  bootstrapDevOrg: setting({
    env: "TESSERA_BOOTSTRAP_DEV_ORG",
    flag: "--bootstrap-dev-org",
    type: bool,
    default: true,
    doc: "on the first start with an empty database, create a development org and print its credentials",
    group: "Process and logs",
  }),
  logLevel: setting({
    env: "TESSERA_LOG_LEVEL",
    flag: "--log-level",
    type: oneOf("level", LOG_LEVELS),
    default: "info",
    doc: "least severe level logged: trace, debug, info, warn, error, fatal or silent; debug logs every request and admin action",
    group: "Process and logs",
  }),
  logFormat: setting({
    env: "TESSERA_LOG_FORMAT",
    flag: "--log-format",
    type: oneOf("format", LOG_FORMATS),
    default: "auto",
    doc: "pretty (lines for people), json (one object a line) or auto: pretty on a terminal, json otherwise",
    group: "Process and logs",
  }),
  slowCallMs: setting({
    env: "TESSERA_SLOW_CALL_MS",
    flag: "--slow-call-ms",
    type: count(0, 3_600_000),
    default: 500,
    doc: "a call taking at least this long (ms) is logged at warn level with its request id; 0 turns it off",
    group: "Process and logs",
  }),
  metrics: setting({
    env: "TESSERA_METRICS",
    flag: "--metrics",
    type: bool,
    default: true,
    doc: "record Prometheus metrics and serve them at /metrics on the HTTP port (and --metrics-port); off only to measure what they cost",
    group: "Process and logs",
  }),
  metricsPort: optional({
    env: "TESSERA_METRICS_PORT",
    flag: "--metrics-port",
    type: port,
    default: undefined,
    defaultText: "none",
    doc: "a port answering only /metrics (Prometheus text, every worker's summed; with --workers the primary serves it); 0 picks a free port",
    group: "Listening",
  }),
};

export type SettingKey = keyof typeof SCHEMA;

/** A setting's value once read: its type, or undefined where the default is. */
export type SettingValue<K extends SettingKey> =
  (typeof SCHEMA)[K] extends Setting<infer T, undefined>
    ? T | undefined
    : (typeof SCHEMA)[K] extends Setting<infer T>
      ? T
      : never;

/** Every setting, read and defaulted, before the checks that span several (loadConfig's). */
export type Settings = { readonly [K in SettingKey]: SettingValue<K> };

/** The setting keys, in table order. */
export const SETTING_KEYS = Object.keys(SCHEMA) as SettingKey[];

/** A setting's default as the docs and help show it. */
export function defaultText(key: SettingKey): string {
  const s = SCHEMA[key] as Setting<unknown, unknown>;
  if (s.defaultText !== undefined) return s.defaultText;
  return s.default === undefined ? "none" : s.type.show(s.default);
}
