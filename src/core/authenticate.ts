import type { BoundIdentities } from "../auth/bound-identities.js";
import type { OrgCredentials } from "../auth/org-credentials.js";
import type { AccessClaims } from "../auth/token-claims.js";
import type { TokenVerifier } from "../auth/token-verifier.js";
import { TesseraError } from "../domain/errors.js";
import { formatIdentity } from "../domain/identity.js";
import type { AuthMethod, Principal } from "../domain/principal.js";
import type { AgentRecord } from "../store/agents.js";
import { bearerOf, type Caller } from "./access.js";
import type { AgentCredentialService } from "./agent-credentials.js";
import type { CallContext } from "./context.js";
import { loginOrigin } from "./login-source.js";
import type { SessionStart, SessionSubject, Sessions, TokenPair } from "./sessions.js";
import type { UserRecord, UserService } from "./users.js";

/** One credential, as Authenticate accepts them. */
export type Credential =
  | { kind: "token"; token: string }
  | { kind: "apiKey"; apiKey: string }
  | { kind: "adminToken"; apiKey: string; adminToken: string }
  | { kind: "agentSecret"; agentId: string; secret: string }
  | { kind: "clientAssertion"; assertion: string }
  | { kind: "password"; orgId: string; username: string; password: string };

export interface AuthenticatorDeps {
  readonly credentials: OrgCredentials;
  readonly verifier: TokenVerifier;
  readonly identities: BoundIdentities;
  readonly agentCredentials: AgentCredentialService;
  readonly users: UserService;
  readonly sessions: Sessions;
  /** Told of each agent credential exchange (its secret or client assertion), counted as the agent's use. */
  readonly usage?:
    | {
        counted(orgId: string, credential: string): void;
        used(caller: Caller, ctx: CallContext): void;
      }
    | undefined;
}

/** Agents' sessions carry every scope: policies decide by role and tier; minted tokens narrow it. */
export function agentSubject(a: AgentRecord): SessionSubject {
  return {
    kind: "agent",
    id: a.id,
    orgId: a.orgId,
    name: a.name,
    tier: a.tier,
    roles: a.roles,
    scopes: ["*"],
    tags: a.tags,
  };
}

export function userSubject(u: UserRecord): SessionSubject {
  return {
    kind: "user",
    id: u.id,
    orgId: u.orgId,
    name: u.username,
    tier: "verified",
    roles: [u.role],
    scopes: ["*"],
    tags: [],
  };
}

function fromSubject(s: SessionSubject, authMethod: AuthMethod): Principal {
  return {
    id: s.id,
    kind: s.kind,
    orgId: s.orgId,
    name: s.name,
    tier: s.tier,
    roles: s.roles,
    scopes: s.scopes,
    tags: s.tags,
    authMethod,
  };
}

export function principalFromClaims(c: AccessClaims): Principal {
  return {
    id: c.sub,
    kind: c.kind ?? "agent",
    orgId: c.org,
    name: c.name,
    tier: c.tier,
    roles: c.roles,
    scopes: c.scopes,
    tags: c.tags,
    authMethod: "token",
    expiresAt: c.exp,
  };
}

function orgPrincipal(
  orgId: string,
  authMethod: AuthMethod,
  scopes: readonly string[],
  roles: readonly string[] = [],
): Principal {
  return {
    id: orgId,
    kind: "api_key",
    orgId,
    name: orgId,
    tier: "unverified",
    roles,
    scopes,
    tags: [],
    authMethod,
  };
}

/** Authenticate and WhoAmI: every credential Tessera accepts, resolved to a principal. */
export class Authenticator {
  constructor(private readonly d: AuthenticatorDeps) {}

  /** Resolves a credential (or, with none, the caller's mTLS identity); with `issueTokens`, starts a session. */
  async authenticate(
    cred: Credential | undefined,
    issueTokens: boolean,
    ctx: CallContext,
  ): Promise<{ principal: Principal; tokens?: TokenPair }> {
    let session: { subject: SessionSubject; method: AuthMethod; start: SessionStart } | undefined;
    if (cred?.kind === "agentSecret") {
      const { agent, start } = await this.d.agentCredentials.authenticateSecret(cred.agentId, cred.secret);
      session = { subject: agentSubject(agent), method: "agent_secret", start };
    } else if (cred?.kind === "clientAssertion") {
      const { agent, start } = await this.d.agentCredentials.authenticateAssertion(cred.assertion);
      session = { subject: agentSubject(agent), method: "client_assertion", start };
    } else if (cred?.kind === "password") {
      if (!cred.orgId) throw new TesseraError("ORG_MISSING", "a password login names its org (org_id)");
      const login = this.d.users.login(cred.orgId, cred.username, cred.password, loginOrigin(ctx));
      const { user, start } = await login;
      session = { subject: userSubject(user), method: "password", start };
    }
    if (session) {
      const principal = fromSubject(session.subject, session.method);
      const tokens = issueTokens ? await this.d.sessions.issue(session.subject, session.start) : undefined;
      // An agent's login is a use of the agent, as its bearer tokens' calls are (`agent:ID`),
      // counted once it succeeded (a login refused for its tokens' size counts nothing).
      const { subject } = session;
      if (subject.kind === "agent") this.d.usage?.counted(subject.orgId, `agent:${subject.id}`);
      return tokens ? { principal, tokens } : { principal };
    }
    if (issueTokens) {
      throw new TesseraError(
        "ISSUE_TOKENS_UNSUPPORTED",
        "tokens are issued for agent secrets, client assertions and passwords only",
      );
    }
    return { principal: await this.principalOf(cred, ctx) };
  }

  private async principalOf(cred: Credential | undefined, ctx: CallContext): Promise<Principal> {
    if (cred?.kind === "token") return principalFromClaims(await this.d.verifier.verify(cred.token));
    if (cred?.kind === "apiKey") {
      const key = this.d.credentials.apiKey(cred.apiKey);
      return orgPrincipal(key.orgId, "api_key", key.scopes ?? []);
    }
    if (cred?.kind === "adminToken") {
      return orgPrincipal(
        this.d.credentials.adminOrg(cred.apiKey, cred.adminToken),
        "admin_token",
        ["admin"],
        ["admin"],
      );
    }
    const peer = ctx.peer();
    if (!peer)
      throw new TesseraError(
        "CREDENTIAL_MISSING",
        "no credential was given and the caller has no client certificate",
      );
    // The id names the source (`cn:NAME` for a CN), so no CN reads as a SPIFFE ID.
    return {
      id: formatIdentity(peer),
      kind: "service",
      orgId: this.d.identities.orgOf(peer) ?? "",
      name: peer.id,
      tier: "unverified",
      roles: [],
      scopes: [],
      tags: [],
      authMethod: "mtls",
    };
  }

  /** The principal of the caller's own credential: bearer token, API key (+ admin token), or mTLS. */
  async whoAmI(ctx: CallContext): Promise<Principal> {
    const bearer = bearerOf(ctx);
    if (bearer) {
      const claims = await this.d.verifier.verify(bearer);
      // The caller's own token: a use of its credential (once per call, as access counts it).
      this.d.usage?.used({ orgId: claims.org, id: `${claims.kind ?? "agent"}:${claims.sub}` }, ctx);
      return principalFromClaims(claims);
    }
    const apiKey = ctx.header("x-api-key");
    const adminToken = ctx.header("x-admin-token");
    if (apiKey && adminToken) return this.principalOf({ kind: "adminToken", apiKey, adminToken }, ctx);
    if (apiKey) return this.principalOf({ kind: "apiKey", apiKey }, ctx);
    return this.principalOf(undefined, ctx);
  }
}
