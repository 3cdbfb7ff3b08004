import { type DecisionSink, directSink, threadSink } from "../audit/decision-sink.js";
import { AdminAuditLog } from "./admin-audit.js";
import { AgentCredentialRepository } from "./agent-credentials.js";
import { AgentRepository } from "./agents.js";
import { ChangeLog } from "./changes.js";
import type { TesseraStore } from "./contract/store.js";
import { CredentialUsageRepository } from "./credential-usage.js";
import { type Db, openDatabase, openLogConnection } from "./db.js";
import { DecisionQuery } from "./decision-query.js";
import { DecisionRepository } from "./decisions.js";
import { storedLivenessFingerprint } from "./liveness-fingerprint.js";
import { LoginAttemptRepository } from "./login-throttle.js";
import { OperatorRepository } from "./operators.js";
import { OrgTrustRepository } from "./org-trust.js";
import { OrgRepository } from "./orgs.js";
import { PolicyRepository } from "./policies.js";
import { pruneExpired } from "./pruning.js";
import { RefreshTokenRepository } from "./refresh-tokens.js";
import { RevocationRepository } from "./revocations.js";
import { ServiceIdentityRepository } from "./services.js";
import { SigningKeyRepository } from "./signing-keys.js";
import { UserRepository } from "./users.js";

/** The embedded store: every repository over one SQLite file, answering synchronously. */
export interface Store extends TesseraStore {
  readonly db: Db;
  readonly orgs: OrgRepository;
  readonly orgTrust: OrgTrustRepository;
  readonly agents: AgentRepository;
  readonly agentCredentials: AgentCredentialRepository;
  readonly users: UserRepository;
  readonly loginAttempts: LoginAttemptRepository;
  readonly policies: PolicyRepository;
  readonly signingKeys: SigningKeyRepository;
  readonly services: ServiceIdentityRepository;
  readonly operators: OperatorRepository;
  readonly changes: ChangeLog;
  readonly revocations: RevocationRepository;
  readonly refreshTokens: RefreshTokenRepository;
  readonly credentialUsage: CredentialUsageRepository;
  readonly adminAudit: AdminAuditLog;
  readonly decisions: DecisionRepository;
  readonly decisionQuery: DecisionQuery;
  /** The decision log's own connection (synchronous = NORMAL), for its housekeeping. */
  readonly decisionsDb: Db;
}

/** Opens the store in a data directory, applying migrations. */
export function openStore(dataDir: string): Store {
  const db = openDatabase(dataDir);
  const logDb = openLogConnection(dataDir);
  const decisions = new DecisionRepository(logDb);
  return {
    answersAtOnce: true,
    dataDir,
    db,
    orgs: new OrgRepository(db),
    orgTrust: new OrgTrustRepository(db),
    agents: new AgentRepository(db),
    agentCredentials: new AgentCredentialRepository(db),
    users: new UserRepository(db),
    loginAttempts: new LoginAttemptRepository(db),
    policies: new PolicyRepository(db),
    signingKeys: new SigningKeyRepository(db),
    services: new ServiceIdentityRepository(db),
    operators: new OperatorRepository(db),
    changes: new ChangeLog(db),
    revocations: new RevocationRepository(db),
    refreshTokens: new RefreshTokenRepository(db),
    credentialUsage: new CredentialUsageRepository(db),
    adminAudit: new AdminAuditLog(db),
    decisions,
    decisionQuery: new DecisionQuery(logDb),
    decisionsDb: logDb,
    livenessFingerprint: (nowSec, tombstonesFrom) => storedLivenessFingerprint(db, nowSec, tombstonesFrom),
    prune: (retention) => pruneExpired(db, logDb, retention),
    decisionSink: ({ fsyncEachCommit }): DecisionSink => {
      // The writer thread has its own connection; without it (TypeScript test runs) the writes
      // happen on this thread, fsync'd when the durability asks for it.
      const thread = threadSink(dataDir, { fsyncEachCommit });
      if (!thread && fsyncEachCommit) decisions.fsyncEachCommit();
      return thread ?? directSink(decisions);
    },
    close: async () => {
      logDb.close();
      db.close();
    },
  };
}
