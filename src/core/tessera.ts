import type { DecisionLog } from "../audit/decision-log.js";
import { openDecisionLog } from "../audit/open-decision-log.js";
import { BoundIdentities } from "../auth/bound-identities.js";
import { KeyRing } from "../auth/key-ring.js";
import { OrgCredentials } from "../auth/org-credentials.js";
import { OrgTrust } from "../auth/org-trust.js";
import { TokenSigner } from "../auth/token-signer.js";
import { TokenVerifier } from "../auth/token-verifier.js";
import { TesseraError } from "../domain/errors.js";
import { PolicyEngine } from "../engine/engine.js";
import type { TesseraStore } from "../store/contract/store.js";
import { tesseraVersion } from "../version.js";
import { AccessControl } from "./access.js";
import { AdminCore } from "./admin.js";
import { AgentCache } from "./agent-cache.js";
import { AgentCredentialService } from "./agent-credentials.js";
import { ApiKeyService } from "./api-keys.js";
import { AuditQueries } from "./audit-query.js";
import { AuthCore } from "./auth.js";
import { Authenticator, agentSubject, userSubject } from "./authenticate.js";
import { CredentialUsage } from "./credential-usage.js";
import { DecisionMinter } from "./decide-mint.js";
import { Evaluations } from "./evaluations.js";
import { ExtAuthz } from "./ext-authz.js";
import { ForwardAuth } from "./forward-auth.js";
import { IdentityAdmin } from "./identities.js";
import { Liveness } from "./liveness.js";
import { Minter } from "./mint.js";
import { TrustAdmin } from "./org-trust.js";
import { PolicyAdmin } from "./policies.js";
import { PolicyChecker } from "./policy-checker.js";
import { RateLimits, rateLimitDefaults } from "./rate-limits.js";
import { ServerStatus } from "./server-status.js";
import { type SessionSubject, Sessions } from "./sessions.js";
import type { CoreSettings } from "./settings.js";
import { SystemCore } from "./system.js";
import { UserService } from "./users.js";

/** Everything the RPC layer calls into. Built once, by the composition root. */
export interface Tessera {
  readonly auth: AuthCore;
  /** Envoy ext_authz checks: routed HTTP decisions for a proxy's credential. */
  readonly extAuthz: ExtAuthz;
  /** The AuthZEN decisions: evaluations and action search, for a PEP's credential. */
  readonly evaluations: Evaluations;
  /** Forward auth: a proxy's question about a request, for the agent's forwarded token. */
  readonly forwardAuth: ForwardAuth;
  readonly admin: AdminCore;
  readonly policies: PolicyAdmin;
  readonly credentials: OrgCredentials;
  readonly liveness: Liveness;
  readonly access: AccessControl;
  readonly login: Authenticator;
  readonly minter: Minter;
  readonly sessions: Sessions;
  readonly apiKeys: ApiKeyService;
  /** Per-credential and per-org rate limits, checked on every call (issue #13). */
  readonly rateLimits: RateLimits;
  /** When each credential was last used and how often, written in batches (issue #13). */
  readonly usage: CredentialUsage;
  readonly users: UserService;
  readonly agentCredentials: AgentCredentialService;
  readonly keys: KeyRing;
  /** Access-token verification and its cache (metrics read its stats). */
  readonly verifier: TokenVerifier;
  /** Binding mTLS identities (org admins) and assigning their namespaces (the operator). */
  readonly serviceIdentities: IdentityAdmin;
  /** The identity → org bindings in memory, reloaded on every identity change. */
  readonly boundIdentities: BoundIdentities;
  /** Org admins trusting other orgs' tokens (cross-org Authorize). */
  readonly trustAdmin: TrustAdmin;
  /** Which orgs trust which, in memory, reloaded on every trust change. */
  readonly orgTrust: OrgTrust;
  /** The server operator's plane: orgs, signing keys. */
  readonly system: SystemCore;
  /** Version, workers and uptime of this process, and a caller's policy revision. */
  readonly status: ServerStatus;
  readonly engine: PolicyEngine;
  /** Undefined when decision logging is off. */
  readonly decisionLog: DecisionLog | undefined;
  /**
   * The change-log position taken before any state was loaded: syncing from here applies
   * every change that committed while this process was loading, never skipping one.
   */
  readonly syncFrom: number;
  /** Agents MintToken and AuthZEN name, from memory after first use; the change log drops changed ones. */
  readonly agentCache: AgentCache;
  /** QueryAudit and QueryDecisions. */
  readonly auditQueries: AuditQueries;
}

/** Wires the core over an open store: loads keys and compiles every org's policies. */
export async function buildTessera(
  store: TesseraStore,
  settings: CoreSettings,
  now: () => Date = () => new Date(),
  onLogError: (err: unknown) => void = () => {},
): Promise<Tessera> {
  const syncFrom = await store.changes.latest();
  const keys = await KeyRing.open(store.signingKeys, {
    now,
    alg: settings.signingAlg,
    masterKey: settings.masterKey,
    retireAfterSeconds: settings.maxTokenTtlSeconds + settings.clockToleranceSeconds,
    rotationIntervalSeconds: settings.keyRotationIntervalSeconds,
  });
  const engine = new PolicyEngine(now);
  await engine.loadFrom(store.policies);
  // A store that answers at once may be asked on a miss (see OrgCredentials.open).
  const credentials = await OrgCredentials.open(store.orgs, now, { readThrough: store.answersAtOnce });
  const liveness = await Liveness.open(
    store,
    now,
    settings.maxTokenTtlSeconds + settings.clockToleranceSeconds,
  );
  const verifier = new TokenVerifier(keys, {
    issuer: settings.issuer,
    audience: settings.audience,
    clockToleranceSeconds: settings.clockToleranceSeconds,
    now,
    check: (claims) => liveness.check(claims),
  });
  const signer = new TokenSigner(keys, settings.issuer);
  const boundIdentities = await BoundIdentities.open(store.services);
  const usage = new CredentialUsage(store.credentialUsage);
  const access = new AccessControl({
    credentials,
    verifier,
    identities: boundIdentities,
    operators: store.operators,
    usage,
  });
  const orgTrust = await OrgTrust.open(store.orgTrust);
  const trustAdmin = new TrustAdmin({ repo: store.orgTrust, trust: orgTrust, now });
  const decisionLog = openDecisionLog(store, settings, onLogError);
  const decisionMinter = new DecisionMinter({ settings, access, verifier, signer, now });
  const auth = new AuthCore({
    engine,
    access,
    verifier,
    trust: orgTrust,
    log: decisionLog,
    now,
    minter: decisionMinter,
  });
  const policies = new PolicyAdmin({ engine, policies: store.policies, checker: new PolicyChecker(), now });
  const knownRoles = (orgId: string) => policies.knownRoles(orgId);
  const agentCache = new AgentCache(store.agents);
  const admin = new AdminCore({ access, liveness, agents: store.agents, agentCache, knownRoles, now });
  const serviceIdentities = new IdentityAdmin({
    services: store.services,
    identities: boundIdentities,
    now,
  });
  const system = new SystemCore({ access, credentials, store, keys, now });
  const workers = settings.workers ?? 1;
  const workerId = settings.workerId ?? 0;
  const status = new ServerStatus({ access, engine, version: tesseraVersion(), workers, workerId, now });
  const sessions = new Sessions({
    settings,
    refreshTokens: store.refreshTokens,
    signer,
    verifier,
    liveness,
    // Called on refreshes only, once `users` below exists.
    resolve: (kind, orgId, id, issuedAt): Promise<SessionSubject> =>
      resolveSubject(store, users, kind, orgId, id, issuedAt),
    now,
  });
  // A new password or agent secret, or a removed key, ends the sessions it could have started.
  const users: UserService = new UserService({
    users: store.users,
    attempts: store.loginAttempts,
    now,
    sessions,
    scryptCost: settings.passwordHashCost,
  });
  const agentCredentials = new AgentCredentialService({
    repo: store.agentCredentials,
    liveness,
    maxTokenTtlSeconds: settings.maxTokenTtlSeconds,
    audience: settings.audience,
    clockToleranceSeconds: settings.clockToleranceSeconds,
    now,
  });
  const login = new Authenticator({
    credentials,
    verifier,
    identities: boundIdentities,
    agentCredentials,
    users,
    sessions,
    usage,
  });
  const minter = new Minter({ settings, access, verifier, signer, agents: agentCache, now });
  const apiKeys = new ApiKeyService({ orgs: store.orgs, credentials, now });
  const rateLimits = new RateLimits(rateLimitDefaults(settings), () => credentials.keyRateLimits());
  credentials.onReload(() => rateLimits.reload());
  const evaluations = new Evaluations({
    auth,
    access,
    agents: { get: (orgId, id) => agentCache.get(orgId, id), list: (orgId) => store.agents.list(orgId) },
    users,
    engine,
    verifier,
    trust: orgTrust,
  });
  const forwardAuth = new ForwardAuth({ auth, access, verifier, trust: orgTrust });
  const extAuthz = new ExtAuthz({
    access,
    verifier,
    trust: orgTrust,
    identityOrg: (id) => boundIdentities.orgOf({ source: "spiffe", id }),
    auth,
  });
  return {
    auth,
    evaluations,
    forwardAuth,
    extAuthz,
    admin,
    policies,
    access,
    login,
    minter,
    sessions,
    apiKeys,
    rateLimits,
    usage,
    credentials,
    liveness,
    users,
    agentCredentials,
    keys,
    verifier,
    serviceIdentities,
    boundIdentities,
    trustAdmin,
    orgTrust,
    system,
    status,
    engine,
    decisionLog,
    syncFrom,
    agentCache,
    auditQueries: new AuditQueries(store.adminAudit, store.decisionQuery),
  };
}

/** The subject of a session as it is now, for a refresh; refuses one that may no longer log in. */
async function resolveSubject(
  store: TesseraStore,
  users: UserService,
  kind: "agent" | "user",
  orgId: string,
  id: string,
  issuedAt: number,
): Promise<SessionSubject> {
  const invalid = () => new TesseraError("REFRESH_TOKEN_INVALID", "the session's subject no longer exists");
  if (kind === "user") {
    const user = await users.get(orgId, id);
    if (!user) throw invalid();
    return userSubject(user);
  }
  const agent = await store.agents.get(orgId, id);
  if (!agent) throw invalid();
  if (agent.suspendedAt !== undefined) throw new TesseraError("AGENT_SUSPENDED", "the agent is suspended");
  // A suspension cuts every session that existed then; resuming does not revive them.
  if (issuedAt <= (agent.tokensValidAfter ?? 0))
    throw new TesseraError("TOKEN_REVOKED", "the session predates the agent's suspension");
  return agentSubject(agent);
}
