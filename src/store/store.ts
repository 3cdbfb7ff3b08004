import { AgentRepository } from "./agents.js";
import { ChangeLog } from "./changes.js";
import { type Db, openDatabase, openLogConnection } from "./db.js";
import { DecisionRepository } from "./decisions.js";
import { OperatorRepository } from "./operators.js";
import { OrgTrustRepository } from "./org-trust.js";
import { OrgRepository } from "./orgs.js";
import { PolicyRepository } from "./policies.js";
import { RevocationRepository } from "./revocations.js";
import { ServiceIdentityRepository } from "./services.js";
import { SigningKeyRepository } from "./signing-keys.js";

/** Every repository over one database connection. */
export interface Store {
  /** The data directory the database lives in. */
  readonly dataDir: string;
  readonly db: Db;
  readonly orgs: OrgRepository;
  /** Which orgs trust which other orgs' tokens (cross-org Authorize). */
  readonly orgTrust: OrgTrustRepository;
  readonly agents: AgentRepository;
  readonly policies: PolicyRepository;
  readonly signingKeys: SigningKeyRepository;
  readonly services: ServiceIdentityRepository;
  readonly operators: OperatorRepository;
  readonly changes: ChangeLog;
  readonly revocations: RevocationRepository;
  readonly decisions: DecisionRepository;
  /** The decision log's own connection (synchronous = NORMAL), for its housekeeping. */
  readonly decisionsDb: Db;
  close(): void;
}

/** Opens the store in a data directory, applying migrations. */
export function openStore(dataDir: string): Store {
  const db = openDatabase(dataDir);
  const logDb = openLogConnection(dataDir);
  return {
    dataDir,
    db,
    orgs: new OrgRepository(db),
    orgTrust: new OrgTrustRepository(db),
    agents: new AgentRepository(db),
    policies: new PolicyRepository(db),
    signingKeys: new SigningKeyRepository(db),
    services: new ServiceIdentityRepository(db),
    operators: new OperatorRepository(db),
    changes: new ChangeLog(db),
    revocations: new RevocationRepository(db),
    decisions: new DecisionRepository(logDb),
    decisionsDb: logDb,
    close: () => {
      logDb.close();
      db.close();
    },
  };
}
