import type { DecisionSink } from "../../audit/decision-sink.js";
import type { AdminAuditLog } from "../admin-audit.js";
import type { AgentCredentialRepository } from "../agent-credentials.js";
import type { AgentRepository } from "../agents.js";
import type { ChangeLog } from "../changes.js";
import type { CredentialUsageRepository } from "../credential-usage.js";
import type { DecisionQuery } from "../decision-query.js";
import type { DecisionRepository } from "../decisions.js";
import type { LivenessFingerprint } from "../liveness-fingerprint.js";
import type { LoginAttemptRepository } from "../login-throttle.js";
import type { OperatorRepository } from "../operators.js";
import type { OrgTrustRepository } from "../org-trust.js";
import type { OrgRepository } from "../orgs.js";
import type { PolicyRepository } from "../policies.js";
import type { Retention } from "../pruning.js";
import type { RefreshTokenRepository } from "../refresh-tokens.js";
import type { RevocationRepository } from "../revocations.js";
import type { ServiceIdentityRepository } from "../services.js";
import type { SigningKeyRepository } from "../signing-keys.js";
import type { UserRepository } from "../users.js";
import type { Async, Awaitable } from "./async.js";

/** A running watch for other processes' changes (see `watchChanges`). */
export interface ChangeWatch {
  /** Stops watching. */
  stop(): void;
}

/**
 * The store as the core sees it: every repository, each answer awaitable, one method one
 * transaction. SQLite (src/store/store.ts) and PostgreSQL (src/store/postgres/store.ts) both
 * provide it; only src/store/open.ts knows which it built.
 */
export interface TesseraStore {
  /**
   * Every answer is there at once, with no I/O wait (SQLite, in this process): a lookup missing
   * from memory may then ask the store, costing microseconds. False where asking costs a network
   * round trip, which the hot path never makes.
   */
  readonly answersAtOnce: boolean;
  /** This process's own directory (decision-log spill files, the master key file): never shared. */
  readonly dataDir: string;
  readonly orgs: Async<OrgRepository>;
  /** Which orgs trust which other orgs' tokens (cross-org Authorize). */
  readonly orgTrust: Async<OrgTrustRepository>;
  readonly agents: Async<AgentRepository>;
  /** Agent secrets and keys, and signed-assertion ids already used. */
  readonly agentCredentials: Async<AgentCredentialRepository>;
  readonly users: Async<UserRepository>;
  /** Login admission: lockouts per user, throttles per source and org, known sources. */
  readonly loginAttempts: Async<LoginAttemptRepository>;
  readonly policies: Async<PolicyRepository>;
  readonly signingKeys: Async<SigningKeyRepository>;
  readonly services: Async<ServiceIdentityRepository>;
  readonly operators: Async<OperatorRepository>;
  readonly changes: Async<ChangeLog>;
  readonly revocations: Async<RevocationRepository>;
  readonly refreshTokens: Async<RefreshTokenRepository>;
  readonly credentialUsage: Async<CredentialUsageRepository>;
  readonly adminAudit: Async<AdminAuditLog>;
  readonly decisions: Async<DecisionRepository>;
  readonly decisionQuery: Async<DecisionQuery>;
  /** The stored revocation/suspension state's sums, compared with what a process holds. */
  livenessFingerprint(nowSec: number, tombstonesFrom: number): Awaitable<LivenessFingerprint>;
  /** Deletes rows past their use (see pruneExpired); returns how many each table lost. */
  prune(retention: Retention): Promise<Record<string, number>>;
  /**
   * Where decision batches are written: SQLite's writer thread (or this thread), or
   * PostgreSQL's pool. `fsyncEachCommit`: the sync durability.
   */
  decisionSink(opts: { fsyncEachCommit: boolean }): DecisionSink;
  /**
   * Calls `wake` whenever another process may have committed a change, and `onConnection`
   * when the store's connection is lost or back. Undefined where the only way to learn of a
   * change is to poll (SQLite: the file has no notifications).
   */
  watchChanges?(wake: () => void, onConnection: (up: boolean) => void): ChangeWatch;
  close(): Promise<void>;
}
