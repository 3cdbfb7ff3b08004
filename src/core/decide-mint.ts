import type { AccessClaims, ActorClaim } from "../auth/token-claims.js";
import type { TokenSigner } from "../auth/token-signer.js";
import type { TokenVerifier } from "../auth/token-verifier.js";
import { actDepth, patternCovers } from "../domain/attenuation.js";
import { TesseraError } from "../domain/errors.js";
import { epochSeconds } from "../domain/time.js";
import { type AccessControl, bearerOf } from "./access.js";
import type { Resolved } from "./authorize-subject.js";
import type { CallContext } from "./context.js";
import type { CoreSettings } from "./settings.js";

/** What Authorize's `mint` asks for. */
export interface MintOptionsInput {
  /** Undefined means the server's default lifetime; always cut to the subject token's expiry. */
  readonly ttlSeconds: number | undefined;
  /** Empty means the server's audience (the only one it mints for). */
  readonly audience: string;
}

/** A mint the caller may make, checked before anything is decided or logged. */
export interface MintPlan {
  readonly subject: AccessClaims;
  readonly audience: string;
  readonly ttlSeconds: number;
  readonly act: ActorClaim;
}

export interface DecisionMinterDeps {
  readonly settings: CoreSettings;
  readonly access: AccessControl;
  readonly verifier: TokenVerifier;
  readonly signer: TokenSigner;
  readonly now: () => Date;
}

/**
 * Decide and mint (issue #12): with an ALLOW, Authorize returns a token for the downstream hop,
 * so an agent makes one round trip instead of Authorize then MintToken. It is an exchange of
 * the subject's token (RFC 8693): the new token names the same subject, holds only the decided
 * scope, outlives neither the subject token nor the server's maximum, and its `act` chain is
 * the subject token's extended by the caller — that link records the subject token's `jti` and
 * `sid`, so revoking the subject token (or its session) ends the minted one.
 *
 * Who may ask is who may mint today: the subject token itself (sent with no other credential:
 * an agent or user narrowing its own token), an agent bearer token of the same subject, or a
 * credential MintToken accepts as an admin (`capabilities:manage`: the org's API key with its
 * admin token, a scoped API key holding it, a user whose role grants it). An mTLS identity alone
 * may not (MINT_FORBIDDEN); another org's token never (MINT_CROSS_ORG), trusted or not: a trust
 * lets an org decide about another org's principals, not issue tokens in their name.
 */
export class DecisionMinter {
  constructor(private readonly d: DecisionMinterDeps) {}

  /** Checks every refusal a mint can meet; throws before anything is decided or written. */
  async plan(resolved: Resolved, subject: AccessClaims, opts: MintOptionsInput, ctx: CallContext) {
    this.sameOrg(resolved, subject);
    return this.planAs(resolved, subject, opts, await this.actor(subject, ctx), "refuse");
  }

  /**
   * A mint a policy enforcement point asked for (a RouteMap's `mint:`, AuthZEN's `tessera_mint`)
   * for the subject whose token it forwarded. The PEP's own credential (checked already: its
   * org's API key, a key with decisions:evaluate, or a bound mTLS identity) extends the chain as
   * `actor`. It needs no admin right: the new token is the forwarded one narrowed (one scope, a
   * shorter life, one more link), so it grants nothing its holder could not already do. A
   * lifetime over the server's maximum is cut when `ttl` is `cut` (a RouteMap is written before
   * it meets a server), refused otherwise.
   */
  planAs(
    resolved: Resolved,
    subject: AccessClaims,
    opts: MintOptionsInput,
    actor: string,
    ttl: "cut" | "refuse",
  ): MintPlan {
    const { settings } = this.d;
    this.sameOrg(resolved, subject);
    const audience = opts.audience || settings.audience;
    if (audience !== settings.audience)
      throw new TesseraError("AUDIENCE_INVALID", "only this server's audience can be minted for");
    if (ttl === "refuse" && opts.ttlSeconds !== undefined && opts.ttlSeconds > settings.maxTokenTtlSeconds) {
      throw new TesseraError("TTL_TOO_LONG", `ttl may not exceed ${settings.maxTokenTtlSeconds}s`, {
        maxTtlSeconds: String(settings.maxTokenTtlSeconds),
      });
    }
    const act: ActorClaim = {
      sub: actor,
      jti: subject.jti,
      ...(subject.sid ? { sid: subject.sid } : {}),
      ...(subject.act ? { act: subject.act } : {}),
    };
    if (actDepth(act) > settings.maxDelegationDepth) {
      throw new TesseraError(
        "DELEGATION_TOO_DEEP",
        `delegation chains are at most ${settings.maxDelegationDepth} deep`,
      );
    }
    const wanted = Math.min(opts.ttlSeconds ?? settings.defaultTokenTtlSeconds, settings.maxTokenTtlSeconds);
    const ttlSeconds = Math.min(wanted, subject.exp - epochSeconds(this.d.now()));
    if (ttlSeconds <= 0)
      throw new TesseraError("ATTENUATION_VIOLATED", "the subject's token expires now", { field: "ttl" });
    return { subject, audience, ttlSeconds, act } satisfies MintPlan;
  }

  /** A token is minted only in its subject's own org: a trust lets an org decide about another's principals, not issue tokens in their name. */
  private sameOrg(resolved: Resolved, subject: AccessClaims): void {
    if (resolved.subjectOrg !== undefined || resolved.orgId !== subject.org)
      throw new TesseraError(
        "MINT_CROSS_ORG",
        "a token is minted only for a subject of the caller's own org, even one it trusts",
      );
  }

  /**
   * Who extends the chain, as `act.sub` names it: an agent by its id (so suspending it ends
   * the token, as for any delegation), anyone else as the decision log names it.
   */
  private async actor(subject: AccessClaims, ctx: CallContext): Promise<string> {
    const apiKey = ctx.header("x-api-key");
    const adminToken = ctx.header("x-admin-token");
    const bearer = bearerOf(ctx);
    if (!apiKey && !adminToken && !bearer) {
      // The token alone is its own credential: the subject narrows its own token. A bound
      // mTLS identity is a caller, but not one that may mint (MintToken refuses it too).
      if (this.d.access.callerNow(ctx) !== null)
        throw new TesseraError(
          "MINT_FORBIDDEN",
          "an mTLS identity may not mint: send the org's API key with its admin token, or a key with capabilities:manage",
        );
      return subject.sub;
    }
    if (bearer && !apiKey && !adminToken) {
      const caller = await this.d.verifier.verify(bearer);
      const self = caller.sub === subject.sub && caller.org === subject.org && caller.kind === subject.kind;
      if (self) return caller.sub;
      if (caller.kind !== "user")
        throw new TesseraError(
          "DELEGATION_FORBIDDEN",
          "an agent may mint only from its own token here; MintToken mints for its sub-agents",
        );
    }
    const admin = await this.d.access.adminCaller(ctx, "capabilities:manage");
    if (admin.orgId !== subject.org)
      throw new TesseraError(
        "MINT_CROSS_ORG",
        "a token is minted only for a subject of the caller's own org",
      );
    return admin.actor;
  }

  /** Signs the planned token for an ALLOW of `scope`: exactly that scope, if the subject holds it. */
  sign(plan: MintPlan, scope: string, decisionId: string) {
    const s = plan.subject;
    if (!s.scopes.some((held) => patternCovers(held, scope)))
      throw new TesseraError("ATTENUATION_VIOLATED", `the subject's token does not hold ${scope}`, {
        field: "scopes",
      });
    return this.d.signer.sign(
      {
        kind: s.kind,
        aud: plan.audience,
        sub: s.sub,
        org: s.org,
        name: s.name,
        tier: s.tier,
        roles: s.roles,
        scopes: [scope],
        tags: s.tags,
        act: plan.act,
        decision_id: decisionId,
      },
      epochSeconds(this.d.now()),
      plan.ttlSeconds,
    );
  }
}
