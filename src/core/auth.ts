import { randomUUID } from "node:crypto";
import type { OrgCredentials } from "../auth/org-credentials.js";
import type { AccessClaims } from "../auth/token-claims.js";
import type { TokenSigner } from "../auth/token-signer.js";
import type { TokenVerifier } from "../auth/token-verifier.js";
import { TesseraError } from "../domain/errors.js";
import type { Principal } from "../domain/principal.js";
import type { PolicyEngine } from "../engine/engine.js";
import type { AuthzQuery, Decision, ResourceRef, Subject } from "../engine/types.js";
import type { AgentRepository } from "../store/agents.js";
import type { ServiceIdentityRepository } from "../store/services.js";
import type { CallContext } from "./context.js";
import type { CoreSettings } from "./settings.js";
import { requireScope, requireScopePatterns } from "./validate.js";

export type Credential = { kind: "token"; token: string } | { kind: "apiKey"; apiKey: string };

export type SubjectInput = { kind: "token"; token: string } | { kind: "attributes"; attributes: Subject };

/** One (scope, resource, context) question about a subject. */
export interface CheckInput {
  readonly scope: string;
  readonly resource?: ResourceRef | undefined;
  readonly context?: Readonly<Record<string, unknown>> | undefined;
}

export interface AuthorizeInput extends CheckInput {
  readonly subject: SubjectInput | undefined;
  readonly explain?: boolean | undefined;
}

/** Most checks one AuthorizeBatch may carry. */
export const MAX_BATCH = 100;

export interface MintInput {
  readonly agentId: string;
  readonly scopes: readonly string[];
  readonly audience: string;
  /** Undefined means the server's default lifetime. */
  readonly ttlSeconds: number | undefined;
}

export interface AuthDeps {
  readonly settings: CoreSettings;
  readonly engine: PolicyEngine;
  readonly credentials: OrgCredentials;
  readonly verifier: TokenVerifier;
  readonly signer: TokenSigner;
  readonly agents: AgentRepository;
  readonly services: ServiceIdentityRepository;
  readonly now: () => Date;
}

function principalFromClaims(c: AccessClaims): Principal {
  return {
    id: c.sub,
    kind: "agent",
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

/** Authenticate, Authorize and MintToken, independent of any transport. */
export class AuthCore {
  constructor(private readonly d: AuthDeps) {}

  /** Resolves a credential, or with none the caller's mTLS identity, to a principal. */
  async authenticate(cred: Credential | undefined, ctx: CallContext): Promise<Principal> {
    if (cred?.kind === "token") return principalFromClaims(await this.d.verifier.verify(cred.token));
    if (cred?.kind === "apiKey") {
      const orgId = this.d.credentials.orgOfApiKey(cred.apiKey);
      return {
        id: orgId,
        kind: "api_key",
        orgId,
        name: orgId,
        tier: "unverified",
        roles: [],
        scopes: [],
        tags: [],
        authMethod: "api_key",
      };
    }
    const peer = ctx.peer();
    if (!peer)
      throw new TesseraError(
        "CREDENTIAL_MISSING",
        "no credential was given and the caller has no client certificate",
      );
    const orgId = this.d.services.orgOf(peer.id) ?? "";
    return {
      id: peer.id,
      kind: "service",
      orgId,
      name: peer.id,
      tier: "unverified",
      roles: [],
      scopes: [],
      tags: [],
      authMethod: "mtls",
    };
  }

  /** The org whose policies apply to an attributes subject: the caller's API key, else its mTLS identity. */
  private callerOrg(ctx: CallContext): string {
    const apiKey = ctx.header("x-api-key");
    if (apiKey) return this.d.credentials.orgOfApiKey(apiKey);
    const peer = ctx.peer();
    const orgId = peer && this.d.services.orgOf(peer.id);
    if (!orgId) {
      throw new TesseraError(
        "CALLER_UNIDENTIFIED",
        "send x-api-key, or call over mTLS with an identity bound to an org",
      );
    }
    return orgId;
  }

  /** The org whose policies apply and the subject as the engine sees it. */
  private async resolveSubject(
    input: SubjectInput | undefined,
    ctx: CallContext,
  ): Promise<{ orgId: string; subject: Subject }> {
    if (!input) throw new TesseraError("SUBJECT_MISSING", "a subject (token or attributes) is required");
    if (input.kind === "attributes") return { orgId: this.callerOrg(ctx), subject: input.attributes };
    const c = await this.d.verifier.verify(input.token);
    return {
      orgId: c.org,
      subject: { id: c.sub, tier: c.tier, roles: c.roles, scopes: c.scopes, tags: c.tags, attr: {} },
    };
  }

  private decideOne(
    orgId: string,
    subject: Subject,
    check: CheckInput,
    explain: boolean,
  ): Decision & { decisionId: string } {
    const query: AuthzQuery = {
      subject,
      scope: check.scope,
      resource: check.resource,
      context: check.context,
      explain,
    };
    return { ...this.d.engine.decide(orgId, query), decisionId: randomUUID() };
  }

  /** Decides one query. A deny is a Decision, never an error. */
  async authorize(input: AuthorizeInput, ctx: CallContext): Promise<Decision & { decisionId: string }> {
    if (!input.subject)
      throw new TesseraError("SUBJECT_MISSING", "a subject (token or attributes) is required");
    requireScope(input.scope);
    const { orgId, subject } = await this.resolveSubject(input.subject, ctx);
    return this.decideOne(orgId, subject, input, input.explain ?? false);
  }

  /** Decides many checks for one subject, in order. Every check is validated before any is decided. */
  async authorizeBatch(
    subjectInput: SubjectInput | undefined,
    checks: readonly CheckInput[],
    explain: boolean,
    ctx: CallContext,
  ): Promise<(Decision & { decisionId: string })[]> {
    if (!subjectInput)
      throw new TesseraError("SUBJECT_MISSING", "a subject (token or attributes) is required");
    if (checks.length === 0) throw new TesseraError("CHECKS_MISSING", "a batch needs at least one check");
    if (checks.length > MAX_BATCH)
      throw new TesseraError("BATCH_TOO_LARGE", `a batch holds at most ${MAX_BATCH} checks`);
    for (const c of checks) requireScope(c.scope);
    const { orgId, subject } = await this.resolveSubject(subjectInput, ctx);
    return checks.map((c) => this.decideOne(orgId, subject, c, explain));
  }

  /** Mints a token for an agent of the admin caller's org. */
  async mintToken(orgId: string, input: MintInput): Promise<{ token: string; claims: AccessClaims }> {
    const { settings } = this.d;
    if (!input.agentId) throw new TesseraError("AGENT_ID_MISSING", "agent_id is required");
    requireScopePatterns(input.scopes);
    const ttl = input.ttlSeconds ?? Math.min(settings.defaultTokenTtlSeconds, settings.maxTokenTtlSeconds);
    if (!Number.isInteger(ttl) || ttl <= 0)
      throw new TesseraError("TTL_INVALID", "ttl must be a positive whole number of seconds");
    if (ttl > settings.maxTokenTtlSeconds) {
      throw new TesseraError("TTL_TOO_LONG", `ttl may not exceed ${settings.maxTokenTtlSeconds}s`, {
        maxTtlSeconds: String(settings.maxTokenTtlSeconds),
      });
    }
    const audience = input.audience || settings.audience;
    if (audience !== settings.audience)
      throw new TesseraError("AUDIENCE_INVALID", "only this server's audience can be minted for");
    const agent = this.d.agents.get(orgId, input.agentId);
    if (!agent) throw new TesseraError("AGENT_NOT_FOUND", "no such agent in this org");
    const nowSec = Math.floor(this.d.now().getTime() / 1000);
    return this.d.signer.sign(
      {
        aud: audience,
        sub: agent.id,
        org: orgId,
        name: agent.name,
        tier: agent.tier,
        roles: agent.roles,
        scopes: input.scopes,
        tags: agent.tags,
      },
      nowSec,
      ttl,
    );
  }
}
