import type { TokenVerifier } from "../auth/token-verifier.js";
import { TesseraError } from "../domain/errors.js";
import { LIMITS } from "../domain/limits.js";
import { isScope } from "../domain/scopes.js";
import { isTier, type Tier } from "../domain/tiers.js";
import { type EvaluationBudget, newEvaluationBudget } from "../engine/cel-budget.js";
import type { PolicyEngine } from "../engine/engine.js";
import type { ResourceRef, Subject } from "../engine/types.js";
import type { AgentRecord, AgentRepository } from "../store/agents.js";
import type { Async, Awaitable } from "../store/contract/async.js";
import type { AccessControl, Caller } from "./access.js";
import type { AgentCache } from "./agent-cache.js";
import type { AuthCore, Decided, DecidedWithToken } from "./auth.js";
import { type Resolved, type TrustLookup, verifiedTokenSubject } from "./authorize-subject.js";
import type { CallContext } from "./context.js";
import type { MintOptionsInput } from "./decide-mint.js";
import type { UserRecord } from "./users.js";

/*
 * The AuthZEN use cases (access evaluation, batches, action search), independent of the wire:
 * the policy enforcement point's credential names the org, a subject is an agent of that org
 * or described by its properties, and every decision goes through AuthCore (engine + log).
 */

/** A subject as an AuthZEN request describes it. */
export interface SubjectRef {
  readonly type: string;
  readonly id: string;
  readonly properties?: Readonly<Record<string, unknown>> | undefined;
}

/** One question: a subject, a scope, a resource, a context. */
export interface EvaluationInput {
  readonly subject: SubjectRef;
  readonly scope: string;
  readonly resource: ResourceRef;
  readonly context?: Readonly<Record<string, unknown>> | undefined;
  /** Decide and mint (`context.tessera_mint`): with an ALLOW, also a token for the downstream hop. */
  readonly mint?: MintOptionsInput | undefined;
}

/** How a batch runs: all of it, up to the first deny (`&&`), or up to the first permit (`||`). */
export type EvaluationsSemantic = "execute_all" | "deny_on_first_deny" | "permit_on_first_permit";

/** One item's outcome: a decision, or the refusal of that item alone (it counts as a deny). */
export type ItemOutcome = { readonly decided: Decided } | { readonly error: TesseraError };

/** The subject types that name a stored agent (by its id, in the caller's org). */
const AGENT_TYPES: ReadonlySet<string> = new Set(["agent"]);

/** Most candidate scopes one action search decides: it is bounded like a batch, a little wider. */
export const MAX_SEARCH_SCOPES = 256;

/** Most subjects one page of a subject search decides (and logs), as a batch. */
export const MAX_SEARCH_PAGE = LIMITS.batchChecks;

/** One page of a subject search: the ids allowed, and where the next page starts (none at the end). */
export interface SubjectPage {
  readonly ids: string[];
  readonly next?: number | undefined;
}

/** The stored users an AuthZEN subject of type `user` may name (by id or username). */
export interface UserLookup {
  get(orgId: string, userId: string): Awaitable<UserRecord | undefined>;
  byUsername(orgId: string, username: string): Awaitable<UserRecord | undefined>;
  list(orgId: string): Awaitable<UserRecord[]>;
}

export interface EvaluationDeps {
  readonly users: UserLookup;
  readonly auth: AuthCore;
  readonly access: AccessControl;
  /** Subjects by id from memory after first use; `list` (subject search) reads the store. */
  readonly agents: Pick<AgentCache, "get"> & Pick<Async<AgentRepository>, "list">;
  readonly engine: PolicyEngine;
  readonly verifier: TokenVerifier;
  readonly trust: TrustLookup;
}

function stringList(value: unknown, field: string): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string"))
    throw new TesseraError("REQUEST_MALFORMED", `${field} must be a list of strings`, { field });
  return value as string[];
}

/** The subject's own Tessera token, when the PEP forwards it (`subject.properties.token`). */
function tokenOf(s: SubjectRef): string | undefined {
  const token = s.properties?.token;
  if (token === undefined) return undefined;
  if (typeof token !== "string" || token === "")
    throw new TesseraError("REQUEST_MALFORMED", "subject.properties.token must be a token", {
      field: "subject.properties.token",
    });
  return token;
}

/** A subject described by its properties alone: `roles`, `tier`, `tags`; the rest is `attr`. */
function describedSubject(s: SubjectRef): Subject {
  const { roles, tier, tags, ...attr } = s.properties ?? {};
  if (tier !== undefined && !isTier(tier))
    throw new TesseraError(
      "TIER_INVALID",
      "subject.properties.tier must be unverified, verified, trusted or privileged",
      {
        field: "subject.properties.tier",
      },
    );
  return {
    id: s.id,
    tier: (tier as Tier | undefined) ?? "unverified",
    roles: stringList(roles, "subject.properties.roles"),
    tags: stringList(tags, "subject.properties.tags"),
    attr: { type: s.type, ...attr },
  };
}

/** A stored user as the engine sees it, as its session token would show it (tier verified, its role). */
function userSubject(user: UserRecord, properties: SubjectRef["properties"]): Subject {
  const { roles: _r, tier: _t, tags: _g, ...attr } = properties ?? {};
  return {
    id: user.id,
    tier: "verified",
    roles: [user.role],
    tags: [],
    attr: { type: "user", name: user.username, ...attr },
  };
}

/** A stored agent as the engine sees it; the request's properties only add `attr`. */
function agentSubject(agent: AgentRecord, type: string, properties: SubjectRef["properties"]): Subject {
  const { roles: _r, tier: _t, tags: _g, ...attr } = properties ?? {};
  return {
    id: agent.id,
    tier: agent.tier,
    roles: agent.roles,
    tags: agent.tags,
    attr: { type, name: agent.name, ...attr },
  };
}

export class Evaluations {
  constructor(private readonly d: EvaluationDeps) {}

  /** The PEP's credential, checked before anything is read. */
  caller(ctx: CallContext): Caller {
    return this.d.access.pepCaller(ctx);
  }

  /**
   * The subject as the engine sees it: an agent of the caller's org (type `agent`, by id: its
   * stored tier, roles and tags; the request's properties only add `attr`, never raise a tier),
   * a user of the caller's org (type `user`, by id or username: tier verified, its role),
   * otherwise the subject the properties describe. Another org's ids are unknown here.
   * A suspended agent is marked: its questions are denied (AGENT_SUSPENDED), never decided.
   */
  private async resolve(caller: Caller, s: SubjectRef): Promise<Resolved & { suspended?: true }> {
    const agent = AGENT_TYPES.has(s.type) ? await this.d.agents.get(caller.orgId, s.id) : undefined;
    if (!agent) {
      const user =
        s.type === "user"
          ? ((await this.d.users.get(caller.orgId, s.id)) ??
            (await this.d.users.byUsername(caller.orgId, s.id)))
          : undefined;
      const subject = user ? userSubject(user, s.properties) : describedSubject(s);
      return { orgId: caller.orgId, subject, caller: caller.id };
    }
    const resolved = {
      orgId: caller.orgId,
      subject: agentSubject(agent, s.type, s.properties),
      caller: caller.id,
    };
    return agent.suspendedAt === undefined ? resolved : { ...resolved, suspended: true };
  }

  /** Decides (and logs) one question; a suspended agent is denied before any rule is looked at. */
  private decide(
    r: Awaited<ReturnType<Evaluations["resolve"]>>,
    q: Omit<EvaluationInput, "subject">,
    budget?: EvaluationBudget,
  ) {
    return r.suspended
      ? this.d.auth.denyResolved(r, q, "AGENT_SUSPENDED")
      : this.d.auth.decideResolved(r, q, budget);
  }

  /**
   * One decision (logged). A deny is a decision; only a malformed question is refused. A subject
   * that carries its token (`properties.token`) is that token's principal, verified; with
   * `mint` it must, and an ALLOW then also carries the downstream token.
   */
  evaluate(ctx: CallContext, input: EvaluationInput): DecidedWithToken | Promise<DecidedWithToken> {
    const caller = this.caller(ctx);
    const token = tokenOf(input.subject);
    if (token === undefined) {
      if (input.mint)
        throw new TesseraError(
          "MINT_SUBJECT_INVALID",
          "tessera_mint needs the subject's Tessera token in subject.properties.token",
          { field: "subject.properties.token" },
        );
      return this.resolve(caller, input.subject).then((r) => this.decide(r, input));
    }
    return this.tokenSubject(caller, input.subject, token).then((r) =>
      input.mint
        ? this.d.auth.decideResolvedAndMint(r, input, input.mint)
        : this.d.auth.decideResolved(r, input),
    );
  }

  /**
   * The verified principal of a subject's token: of the caller's org (or one it trusts), and the
   * subject the request names (its type and id), never another.
   */
  private async tokenSubject(caller: Caller, s: SubjectRef, token: string): Promise<Resolved> {
    const r = await verifiedTokenSubject(token, caller, this.d.verifier, this.d.trust);
    if (r.claims?.sub !== s.id || r.claims.kind !== s.type)
      throw new TesseraError(
        "REQUEST_MALFORMED",
        "subject.properties.token is the token of another subject than subject.type and subject.id name",
        { field: "subject.properties.token" },
      );
    return r;
  }

  /**
   * A batch, in order, under one CEL budget. An item that failed to decode, or whose question is
   * refused, fails alone (a deny for the short-circuits). `deny_on_first_deny` stops after the
   * first deny, `permit_on_first_permit` after the first permit: the answer is then shorter.
   */
  async evaluateMany(
    ctx: CallContext,
    items: readonly (EvaluationInput | TesseraError)[],
    semantic: EvaluationsSemantic,
  ): Promise<ItemOutcome[]> {
    const caller = this.caller(ctx);
    const budget = newEvaluationBudget();
    const out: ItemOutcome[] = [];
    for (const item of items) {
      const outcome = await this.one(caller, item, budget);
      out.push(outcome);
      const allowed = "decided" in outcome && outcome.decided.allow;
      if (semantic === "deny_on_first_deny" && !allowed) break;
      if (semantic === "permit_on_first_permit" && allowed) break;
    }
    return out;
  }

  private async one(
    caller: Caller,
    item: EvaluationInput | TesseraError,
    budget: EvaluationBudget,
  ): Promise<ItemOutcome> {
    if (item instanceof TesseraError) return { error: item };
    try {
      if (item.mint)
        throw new TesseraError(
          "REQUEST_MALFORMED",
          "tessera_mint is served by the single evaluation endpoint only",
          {
            field: "context.tessera_mint",
          },
        );
      const token = tokenOf(item.subject);
      const r =
        token === undefined
          ? await this.resolve(caller, item.subject)
          : await this.tokenSubject(caller, item.subject, token);
      return { decided: await this.decide(r, item, budget) };
    } catch (err) {
      // A client's mistake fails its item alone; anything else (the log unavailable…) fails the call.
      if (err instanceof TesseraError && err.kind === "invalid_argument") return { error: err };
      throw err;
    }
  }

  /**
   * The scopes the subject may use on the resource: every concrete scope the org's policies
   * name (exact scopes, and `*:verb` patterns completed with `domainOf`), each decided and
   * logged, in order. Scopes only `domain:*` or `*` patterns cover cannot be listed.
   */
  async searchActions(
    ctx: CallContext,
    subject: SubjectRef,
    resource: ResourceRef,
    context: Readonly<Record<string, unknown>> | undefined,
    domainOf: string,
  ): Promise<string[]> {
    const caller = this.caller(ctx);
    const r = await this.resolve(caller, subject);
    const index = this.d.engine.current(caller.orgId).index;
    const candidates = new Set<string>();
    for (const scope of index.exact.keys()) candidates.add(scope);
    for (const verb of index.byVerb.keys()) {
      const scope = `${domainOf}:${verb}`;
      if (isScope(scope)) candidates.add(scope);
    }
    const budget = newEvaluationBudget();
    const allowed: string[] = [];
    for (const scope of [...candidates].sort().slice(0, MAX_SEARCH_SCOPES)) {
      const d = await this.decide(r, { scope, resource, context }, budget);
      if (d.allow) allowed.push(scope);
    }
    return allowed;
  }

  /**
   * The subjects of `type` that may use `scope` on the resource: the caller's org's agents (not
   * suspended) for `agent`, its users (named by username) for `user`, none for any other type;
   * oldest first, `limit` of them decided (and logged) per page from `offset`.
   */
  async searchSubjects(
    ctx: CallContext,
    type: string,
    check: Omit<EvaluationInput, "subject">,
    page: { offset: number; limit: number },
  ): Promise<SubjectPage> {
    const caller = this.caller(ctx);
    const all: { id: string; subject: Subject }[] = AGENT_TYPES.has(type)
      ? (await this.d.agents.list(caller.orgId))
          .filter((a) => a.suspendedAt === undefined)
          .map((a) => ({ id: a.id, subject: agentSubject(a, type, undefined) }))
      : type === "user"
        ? (await this.d.users.list(caller.orgId)).map((u) => ({
            id: u.username,
            subject: userSubject(u, undefined),
          }))
        : [];
    const limit = Math.min(Math.max(page.limit, 1), MAX_SEARCH_PAGE);
    const slice = all.slice(page.offset, page.offset + limit);
    const next = page.offset + limit < all.length ? page.offset + limit : undefined;
    return this.decideEach(caller, slice, check).then((ids) => ({ ids, next }));
  }

  private async decideEach(
    caller: Caller,
    candidates: readonly { id: string; subject: Subject }[],
    check: Omit<EvaluationInput, "subject">,
  ): Promise<string[]> {
    const budget = newEvaluationBudget();
    const ids: string[] = [];
    for (const c of candidates) {
      const r: Resolved = { orgId: caller.orgId, subject: c.subject, caller: caller.id };
      if ((await this.d.auth.decideResolved(r, check, budget)).allow) ids.push(c.id);
    }
    return ids;
  }
}
