import type { ScryptCost } from "../auth/passwords.js";

/** The settings the core needs, taken from the validated Config by main. */
export interface CoreSettings {
  readonly issuer: string;
  readonly audience: string;
  readonly defaultTokenTtlSeconds: number;
  readonly maxTokenTtlSeconds: number;
  readonly clockToleranceSeconds: number;
  readonly refreshTokenTtlSeconds: number;
  /** A session ends this long after its login, however often it is refreshed. Default 24 hours. */
  readonly sessionMaxLifetimeSeconds?: number | undefined;
  /** scrypt parameters for new password hashes. Default DEFAULT_SCRYPT_COST; tests pass cheap ones. */
  readonly passwordHashCost?: ScryptCost | undefined;
  readonly maxDelegationDepth: number;
  readonly signingAlg: "EdDSA" | "ES256";
  readonly keyRotationIntervalSeconds: number;
  readonly masterKey?: Buffer | undefined;
  /** Record decisions; default true. */
  readonly decisionLog?: boolean | undefined;
  /** async (default): answered before the decision is durable, at most 100 ms of them lost on a crash; sync: answered once durable. */
  readonly decisionLogDurability?: "async" | "sync" | undefined;
  /** Per org and worker: bytes of decisions stored one by one per quota window; 0 = no quota. Default 256 MiB. */
  readonly decisionLogOrgQuotaBytes?: number | undefined;
  /** The decision-log quota window. Default 60 seconds. */
  readonly decisionLogOrgQuotaWindowSeconds?: number | undefined;
  /** While the decision log spills to a file, how often it tries the database again. Default 5 seconds. */
  readonly decisionLogSpillRetrySeconds?: number | undefined;
  /** Server processes sharing the ports (serve --workers), as GetServerStatus reports them. Default 1. */
  readonly workers?: number | undefined;
  /** This process's cluster worker id (1, 2, …), 0 for a single process, as GetServerStatus reports it. Default 0. */
  readonly workerId?: number | undefined;
  /**
   * Rate limits every org gets by default (issue #13), in requests per second; 0 (default) sets
   * none. A burst of 0 is the rate itself. A key's own limit wins over the per-key default.
   */
  readonly rateLimitKeyRps?: number | undefined;
  readonly rateLimitKeyBurst?: number | undefined;
  readonly rateLimitAgentRps?: number | undefined;
  readonly rateLimitAgentBurst?: number | undefined;
  readonly rateLimitOrgRps?: number | undefined;
  readonly rateLimitOrgBurst?: number | undefined;
}
