import { type AccessClaims, type ActorClaim, isGrants, type TokenGrants } from "../auth/token-claims.js";
import type { TokenSigner } from "../auth/token-signer.js";
import type { TokenVerifier } from "../auth/token-verifier.js";
import { actDepth, grantsBeyond, parsePorts, scopesBeyond } from "../domain/attenuation.js";
import { TesseraError } from "../domain/errors.js";
import { LIMITS } from "../domain/limits.js";
import { DEFAULT_ROLES, effectiveRoles, roleClosure } from "../domain/roles.js";
import { type Tier, tierRank } from "../domain/tiers.js";
import { epochSeconds } from "../domain/time.js";
import type { AgentRecord } from "../store/agents.js";
import { type AccessControl, bearerOf } from "./access.js";
import type { AgentCache } from "./agent-cache.js";
import type { CallContext } from "./context.js";
import type { CoreSettings } from "./settings.js";
import { requireScopePatterns } from "./validate.js";

export interface MintInput {
  readonly agentId: string;
  readonly scopes: readonly string[];
  readonly audience: string;
  /** Undefined means the server's default lifetime (capped by the minter's own expiry). */
  readonly ttlSeconds: number | undefined;
  readonly grants?: TokenGrants | undefined;
  /** Undefined keeps the target agent's tier (capped at an agent minter's own). */
  readonly tier?: Tier | undefined;
}

export interface MinterDeps {
  readonly settings: CoreSettings;
  readonly access: AccessControl;
  readonly verifier: TokenVerifier;
  readonly signer: TokenSigner;
  /** The agents minted for, from memory after first use (`cached`: at once, when held). */
  readonly agents: Pick<AgentCache, "get"> & Partial<Pick<AgentCache, "cached">>;
  readonly now: () => Date;
}

const CLOSURE = roleClosure(DEFAULT_ROLES);

function violated(field: string, message: string): TesseraError {
  return new TesseraError("ATTENUATION_VIOLATED", message, { field });
}

/** Checks grants are well-formed (never more than a small JSON document). */
function requireGrants(g: TokenGrants | undefined): void {
  if (!g) return;
  if (!isGrants(g))
    throw new TesseraError("GRANT_INVALID", "grants have room, role (agent|tool|user), tunnel_ports and api");
  if (g.room !== undefined && (g.room.length === 0 || g.room.length > LIMITS.grantsRoomBytes))
    throw new TesseraError("GRANT_INVALID", "room is 1-128 characters");
  if (g.tunnel_ports !== undefined && !parsePorts(g.tunnel_ports))
    throw new TesseraError("GRANT_INVALID", "tunnel_ports are comma-separated ports");
  if (g.api !== undefined && JSON.stringify(g.api).length > LIMITS.grantsApiBytes)
    throw new TesseraError("GRANT_INVALID", "api grants are at most 4 KiB");
}

/** A minted token and the claims it carries. */
export interface Minted {
  readonly token: string;
  readonly claims: AccessClaims;
}

/** The agent to mint for: refused when there is none in the org or it is suspended. */
function usable(agent: AgentRecord | undefined): AgentRecord {
  if (!agent) throw new TesseraError("AGENT_NOT_FOUND", "no such agent in this org");
  if (agent.suspendedAt !== undefined) throw new TesseraError("AGENT_SUSPENDED", "the agent is suspended");
  return agent;
}

/**
 * MintToken. An admin of the org mints for its agents; an agent (authorization: Bearer its
 * token) may only attenuate: a subset of its scopes and grants, a tier and roles no higher, an
 * expiry no later, with the delegation chain recorded in `act` up to a maximum depth.
 */
export class Minter {
  constructor(private readonly d: MinterDeps) {}

  /**
   * Mints, at once (no promise) for the common call: the org's admin pair (or a scoped API key)
   * minting for an agent held in memory. A bearer token, or an agent not yet read, takes the
   * async path; either way the checks, their order and their refusals are the same.
   */
  mint(input: MintInput, ctx: CallContext): Minted | Promise<Minted> {
    if (!input.agentId) throw new TesseraError("AGENT_ID_MISSING", "agent_id is required");
    requireScopePatterns(input.scopes);
    requireGrants(input.grants);
    const { settings } = this.d;
    const audience = input.audience || settings.audience;
    if (audience !== settings.audience)
      throw new TesseraError("AUDIENCE_INVALID", "only this server's audience can be minted for");
    if (input.ttlSeconds !== undefined && input.ttlSeconds > settings.maxTokenTtlSeconds) {
      throw new TesseraError("TTL_TOO_LONG", `ttl may not exceed ${settings.maxTokenTtlSeconds}s`, {
        maxTtlSeconds: String(settings.maxTokenTtlSeconds),
      });
    }
    const bearer = bearerOf(ctx);
    if (bearer && !ctx.header("x-api-key") && !ctx.header("x-admin-token"))
      return this.mintWithBearer(bearer, input, audience, ctx);
    const orgId = this.d.access.adminNow(ctx, "capabilities:manage");
    if (orgId === undefined)
      return this.d.access
        .admin(ctx, "capabilities:manage")
        .then(async (org) => this.mintAsAdmin(await this.target(org, input.agentId), input, audience));
    const held = this.d.agents.cached?.(orgId, input.agentId);
    if (held) return this.mintAsAdmin(usable(held), input, audience);
    return this.target(orgId, input.agentId).then((target) => this.mintAsAdmin(target, input, audience));
  }

  /** A bearer token alone: an agent attenuating its own token, or a user session of an admin. */
  private async mintWithBearer(bearer: string, input: MintInput, audience: string, ctx: CallContext) {
    const minter = await this.d.verifier.verify(bearer);
    if (minter.kind !== "user") return this.mintAsAgent(minter, input, audience);
    const orgId = await this.d.access.admin(ctx, "capabilities:manage");
    return this.mintAsAdmin(await this.target(orgId, input.agentId), input, audience);
  }

  /** An admin's token for `target`: its tier (or a lower one asked for), roles and tags. */
  private mintAsAdmin(target: AgentRecord, input: MintInput, audience: string): Minted {
    if (input.tier !== undefined && tierRank(input.tier) > tierRank(target.tier)) {
      throw violated("tier", "a token may not carry a tier above its agent's");
    }
    const { settings } = this.d;
    const ttl = input.ttlSeconds ?? Math.min(settings.defaultTokenTtlSeconds, settings.maxTokenTtlSeconds);
    return this.sign(
      target,
      { ...input, audience, tier: input.tier ?? target.tier, roles: target.roles, tags: target.tags },
      ttl,
      undefined,
    );
  }

  private async target(orgId: string, agentId: string): Promise<AgentRecord> {
    return usable(await this.d.agents.get(orgId, agentId));
  }

  /**
   * An agent mints for itself or for a sub-agent an admin put under it, never for any other
   * agent: the token holds no more scopes, grants, tags, roles or tier than both the minter and
   * the target, outlives neither, and records the minter (and the token it used) in `act`.
   */
  private async mintAsAgent(m: AccessClaims, input: MintInput, audience: string) {
    const act: ActorClaim = {
      sub: m.sub,
      jti: m.jti,
      ...(m.sid ? { sid: m.sid } : {}),
      ...(m.act ? { act: m.act } : {}),
    };
    if (actDepth(act) > this.d.settings.maxDelegationDepth) {
      throw new TesseraError(
        "DELEGATION_TOO_DEEP",
        `delegation chains are at most ${this.d.settings.maxDelegationDepth} deep`,
      );
    }
    const target = await this.target(m.org, input.agentId);
    if (target.id !== m.sub && target.parentId !== m.sub) {
      throw new TesseraError(
        "DELEGATION_FORBIDDEN",
        "an agent may mint only for itself or for its own sub-agents",
      );
    }
    const beyond = scopesBeyond(m.scopes, input.scopes);
    if (beyond.length > 0) throw violated("scopes", `the minter does not hold ${beyond.join(", ")}`);
    const grants = grantsBeyond(m.grants, input.grants);
    if (grants.length > 0)
      throw violated("grants", `the minter does not hold the ${grants.join(", ")} grant`);
    // Tier: never above the minter's nor the target's own.
    const ceiling = tierRank(m.tier) <= tierRank(target.tier) ? m.tier : target.tier;
    if (input.tier !== undefined && tierRank(input.tier) > tierRank(ceiling))
      throw violated("tier", "a tier above the minter's or the agent's own");
    const tier = input.tier ?? ceiling;
    // Roles: only those the minter itself satisfies survive; tags: only those both hold.
    const minterRoles = effectiveRoles(m.roles, CLOSURE);
    const roles = target.roles.filter((r) => minterRoles.has(r));
    const minterTags = new Set(m.tags);
    const tags = target.tags.filter((t) => minterTags.has(t));
    const now = epochSeconds(this.d.now());
    const left = m.exp - now;
    const ttl = input.ttlSeconds ?? Math.min(this.d.settings.defaultTokenTtlSeconds, left);
    if (ttl <= 0 || ttl > left) throw violated("ttl", "a token may not outlive its minter's");
    return this.sign(target, { ...input, audience, tier, roles, tags }, ttl, act);
  }

  private sign(
    target: AgentRecord,
    c: MintInput & { audience: string; tier: Tier; roles: readonly string[]; tags: readonly string[] },
    ttl: number,
    act: AccessClaims["act"],
  ): Minted {
    const nowSec = epochSeconds(this.d.now());
    return this.d.signer.signNow(
      {
        kind: "agent",
        aud: c.audience,
        sub: target.id,
        org: target.orgId,
        name: target.name,
        tier: c.tier,
        roles: c.roles,
        scopes: c.scopes,
        tags: c.tags,
        ...(c.grants && Object.keys(c.grants).length > 0 ? { grants: c.grants } : {}),
        ...(act ? { act } : {}),
      },
      nowSec,
      ttl,
    );
  }
}
