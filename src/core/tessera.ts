import { DecisionLog } from "../audit/decision-log.js";
import { directSink, threadSink } from "../audit/decision-sink.js";
import { KeyRing } from "../auth/key-ring.js";
import { OrgCredentials } from "../auth/org-credentials.js";
import { TokenSigner } from "../auth/token-signer.js";
import { TokenVerifier } from "../auth/token-verifier.js";
import { TesseraError } from "../domain/errors.js";
import { PolicyEngine } from "../engine/engine.js";
import { RefreshTokenRepository } from "../store/refresh-tokens.js";
import type { Store } from "../store/store.js";
import { AccessControl } from "./access.js";
import { AdminCore } from "./admin.js";
import { AgentCredentialService } from "./agent-credentials.js";
import { ApiKeyService } from "./api-keys.js";
import { AuthCore } from "./auth.js";
import { Authenticator, agentSubject, userSubject } from "./authenticate.js";
import { Liveness } from "./liveness.js";
import { Minter } from "./mint.js";
import { PolicyAdmin } from "./policies.js";
import { PolicyChecker } from "./policy-checker.js";
import { type SessionSubject, Sessions } from "./sessions.js";
import type { CoreSettings } from "./settings.js";
import { UserService } from "./users.js";

/** Everything the RPC layer calls into. Built once, by the composition root. */
export interface Tessera {
  readonly auth: AuthCore;
  readonly admin: AdminCore;
  readonly policies: PolicyAdmin;
  readonly credentials: OrgCredentials;
  readonly liveness: Liveness;
  readonly access: AccessControl;
  readonly login: Authenticator;
  readonly minter: Minter;
  readonly sessions: Sessions;
  readonly apiKeys: ApiKeyService;
  readonly users: UserService;
  readonly agentCredentials: AgentCredentialService;
  readonly keys: KeyRing;
  readonly engine: PolicyEngine;
  /** Undefined when decision logging is off. */
  readonly decisionLog: DecisionLog | undefined;
}

/** Wires the core over an open store: loads keys and compiles every org's policies. */
export async function buildTessera(
  store: Store,
  settings: CoreSettings,
  now: () => Date = () => new Date(),
  onLogError: (err: unknown) => void = () => {},
): Promise<Tessera> {
  const keys = await KeyRing.open(store.signingKeys, {
    now,
    alg: settings.signingAlg,
    masterKey: settings.masterKey,
    retireAfterSeconds: settings.maxTokenTtlSeconds + settings.clockToleranceSeconds,
    rotationIntervalSeconds: settings.keyRotationIntervalSeconds,
  });
  const engine = new PolicyEngine(now);
  engine.loadFrom(store.policies);
  const credentials = new OrgCredentials(store.orgs, now);
  const liveness = new Liveness(store, now);
  const verifier = new TokenVerifier(keys, {
    issuer: settings.issuer,
    audience: settings.audience,
    clockToleranceSeconds: settings.clockToleranceSeconds,
    now,
    check: (claims) => liveness.check(claims),
  });
  const signer = new TokenSigner(keys, settings.issuer);
  const access = new AccessControl({ credentials, verifier, services: store.services });
  const decisionLog =
    settings.decisionLog === false
      ? undefined
      : new DecisionLog(threadSink(store.dataDir) ?? directSink(store.decisions), { onError: onLogError });
  const auth = new AuthCore({ engine, access, verifier, log: decisionLog, now });
  const admin = new AdminCore({ access, liveness, agents: store.agents, services: store.services, now });
  const policies = new PolicyAdmin({ engine, policies: store.policies, checker: new PolicyChecker(), now });
  const users = new UserService({ db: store.db, now });
  const agentCredentials = new AgentCredentialService({
    db: store.db,
    audience: settings.audience,
    clockToleranceSeconds: settings.clockToleranceSeconds,
    now,
  });
  const sessions = new Sessions({
    settings,
    refreshTokens: new RefreshTokenRepository(store.db),
    signer,
    verifier,
    liveness,
    resolve: (kind, orgId, id, issuedAt) => resolveSubject(store, users, kind, orgId, id, issuedAt),
    now,
  });
  const login = new Authenticator({
    credentials,
    verifier,
    services: store.services,
    agentCredentials,
    users,
    sessions,
  });
  const minter = new Minter({ settings, access, verifier, signer, agents: store.agents, now });
  const apiKeys = new ApiKeyService({ orgs: store.orgs, credentials, now });
  return {
    auth,
    admin,
    policies,
    access,
    login,
    minter,
    sessions,
    apiKeys,
    credentials,
    liveness,
    users,
    agentCredentials,
    keys,
    engine,
    decisionLog,
  };
}

/** The subject of a session as it is now, for a refresh; refuses one that may no longer log in. */
function resolveSubject(
  store: Store,
  users: UserService,
  kind: "agent" | "user",
  orgId: string,
  id: string,
  issuedAt: number,
): SessionSubject {
  const invalid = () => new TesseraError("REFRESH_TOKEN_INVALID", "the session's subject no longer exists");
  if (kind === "user") {
    const user = users.get(orgId, id);
    if (!user) throw invalid();
    return userSubject(user);
  }
  const agent = store.agents.get(orgId, id);
  if (!agent) throw invalid();
  if (agent.suspendedAt !== undefined) throw new TesseraError("AGENT_SUSPENDED", "the agent is suspended");
  // A suspension cuts every session that existed then; resuming does not revive them.
  if (issuedAt <= (agent.tokensValidAfter ?? 0))
    throw new TesseraError("TOKEN_REVOKED", "the session predates the agent's suspension");
  return agentSubject(agent);
}
