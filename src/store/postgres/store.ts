import { mkdirSync } from "node:fs";
import { pgDecisionSink } from "../../audit/pg-decision-sink.js";
import type { TesseraStore } from "../contract/store.js";
import { PgAdminAuditLog } from "./admin-audit.js";
import { PgAgentCredentialRepository } from "./agent-credentials.js";
import { PgAgentRepository } from "./agents.js";
import { watchPgChanges } from "./change-watch.js";
import { PgChangeLog } from "./changes.js";
import { PgCredentialUsageRepository } from "./credential-usage.js";
import { PgDecisionQuery } from "./decision-query.js";
import { PgDecisionRepository } from "./decisions.js";
import { pgLivenessFingerprint } from "./liveness-fingerprint.js";
import { PgLoginAttemptRepository } from "./login-throttle.js";
import { migratePg } from "./migrate.js";
import { PgOperatorRepository } from "./operators.js";
import { PgOrgTrustRepository } from "./org-trust.js";
import { PgOrgRepository } from "./orgs.js";
import { PgDb } from "./pg-db.js";
import { PgPolicyRepository } from "./policies.js";
import { prunePgExpired } from "./pruning.js";
import { PgRefreshTokenRepository } from "./refresh-tokens.js";
import { PgRevocationRepository } from "./revocations.js";
import { PgServiceIdentityRepository } from "./services.js";
import { PgSigningKeyRepository } from "./signing-keys.js";
import { PgUserRepository } from "./users.js";

/** The PostgreSQL store, as every replica opens it. */
export interface PgStore extends TesseraStore {
  readonly db: PgDb;
}

/**
 * Opens the shared PostgreSQL database: migrated first (under an advisory lock, so replicas
 * starting together migrate once), then every repository over one small pool. `dataDir` holds
 * only this replica's own files (decision-log spill files).
 */
export async function openPgStore(url: string, dataDir: string): Promise<PgStore> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = new PgDb(url);
  try {
    await migratePg(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  const decisions = new PgDecisionRepository(db);
  return {
    answersAtOnce: false,
    dataDir,
    db,
    orgs: new PgOrgRepository(db),
    orgTrust: new PgOrgTrustRepository(db),
    agents: new PgAgentRepository(db),
    agentCredentials: new PgAgentCredentialRepository(db),
    users: new PgUserRepository(db),
    loginAttempts: new PgLoginAttemptRepository(db),
    policies: new PgPolicyRepository(db),
    signingKeys: new PgSigningKeyRepository(db),
    services: new PgServiceIdentityRepository(db),
    operators: new PgOperatorRepository(db),
    changes: new PgChangeLog(db),
    revocations: new PgRevocationRepository(db),
    refreshTokens: new PgRefreshTokenRepository(db),
    credentialUsage: new PgCredentialUsageRepository(db),
    adminAudit: new PgAdminAuditLog(db),
    decisions,
    decisionQuery: new PgDecisionQuery(db),
    livenessFingerprint: (nowSec, tombstonesFrom) => pgLivenessFingerprint(db, nowSec, tombstonesFrom),
    prune: (retention) => prunePgExpired(db, retention),
    decisionSink: ({ fsyncEachCommit }) => {
      if (fsyncEachCommit) decisions.fsyncEachCommit();
      return pgDecisionSink(decisions);
    },
    watchChanges: (wake, onConnection) => watchPgChanges(url, wake, onConnection),
    close: () => db.close(),
  };
}
