import { KeyRing } from "../auth/key-ring.js";
import { OrgCredentials } from "../auth/org-credentials.js";
import { TokenSigner } from "../auth/token-signer.js";
import { TokenVerifier } from "../auth/token-verifier.js";
import { PolicyEngine } from "../engine/engine.js";
import type { Store } from "../store/store.js";
import { AdminCore } from "./admin.js";
import { AgentCredentialService } from "./agent-credentials.js";
import { AuthCore } from "./auth.js";
import { PolicyAdmin } from "./policies.js";
import type { CoreSettings } from "./settings.js";
import { UserService } from "./users.js";

/** Everything the RPC layer calls into. Built once, by the composition root. */
export interface Tessera {
  readonly auth: AuthCore;
  readonly admin: AdminCore;
  readonly policies: PolicyAdmin;
  readonly credentials: OrgCredentials;
  readonly users: UserService;
  readonly agentCredentials: AgentCredentialService;
  readonly keys: KeyRing;
  readonly engine: PolicyEngine;
}

/** Wires the core over an open store: loads keys and compiles every org's policies. */
export async function buildTessera(
  store: Store,
  settings: CoreSettings,
  now: () => Date = () => new Date(),
): Promise<Tessera> {
  const keys = await KeyRing.open(store.signingKeys, now);
  const engine = new PolicyEngine(now);
  engine.loadFrom(store.policies);
  const credentials = new OrgCredentials(store.orgs);
  const verifier = new TokenVerifier(keys, {
    issuer: settings.issuer,
    audience: settings.audience,
    clockToleranceSeconds: settings.clockToleranceSeconds,
    now,
  });
  const signer = new TokenSigner(keys, settings.issuer);
  const auth = new AuthCore({
    settings,
    engine,
    credentials,
    verifier,
    signer,
    agents: store.agents,
    services: store.services,
    now,
  });
  const admin = new AdminCore({ credentials, agents: store.agents, services: store.services, now });
  const policies = new PolicyAdmin({ engine, policies: store.policies, now });
  const users = new UserService({ db: store.db, now });
  const agentCredentials = new AgentCredentialService({
    db: store.db,
    audience: settings.audience,
    clockToleranceSeconds: settings.clockToleranceSeconds,
    now,
  });
  return { auth, admin, policies, credentials, users, agentCredentials, keys, engine };
}
