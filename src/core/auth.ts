import { randomUUID } from "node:crypto";
import type { DecisionLog } from "../audit/decision-log.js";
import type { TokenVerifier } from "../auth/token-verifier.js";
import { TesseraError } from "../domain/errors.js";
import { LIMITS } from "../domain/limits.js";
import { type EvaluationBudget, newEvaluationBudget } from "../engine/cel-budget.js";
import type { PolicyEngine } from "../engine/engine.js";
import type { HttpRequest, RouteResult } from "../engine/routes.js";
import type { AuthzQuery, Decision, DecisionReason, ResourceRef, Subject } from "../engine/types.js";
import type { AccessControl } from "./access.js";
import {
  ANONYMOUS,
  type Resolved,
  resolveSubject,
  type SubjectInput,
  TRUSTS_NONE,
  type TrustLookup,
} from "./authorize-subject.js";
import type { CallContext } from "./context.js";
import type { DecisionMinter, MintOptionsInput, MintPlan } from "./decide-mint.js";
import { DecisionCounts } from "./decision-counts.js";
import { requireScope } from "./validate.js";

/** A decision with the id the decision log records it under. */
export type Decided = Decision & { decisionId: string };

/** A decision made with `mint`: the token and its expiry (epoch seconds) when it was an ALLOW. */
export type DecidedWithToken = Decided & { token?: string | undefined; expiresAt?: number | undefined };

/**
 * A routed decision: the route the request took (or no route), the decision's id, whom it was
 * about, and with an ALLOW of a route that mints, the downstream token.
 */
export type HttpDecided = DecidedWithToken & { readonly route: RouteResult; readonly subjectId: string };

/** One (scope, resource, context) question about a subject. */
export interface CheckInput {
  readonly scope: string;
  readonly resource?: ResourceRef | undefined;
  readonly context?: Readonly<Record<string, unknown>> | undefined;
}

export interface AuthorizeInput extends CheckInput {
  readonly subject: SubjectInput | undefined;
  readonly explain?: boolean | undefined;
  /** Decide and mint: with an ALLOW, also a token for the downstream hop (decide-mint.ts). */
  readonly mint?: MintOptionsInput | undefined;
}

/**
 * Who extends a minted token's chain for a PEP: its credential as the decision log names it, or
 * the subject itself when its bare token was the only credential (it narrows its own token).
 */
function actorOf(r: Resolved): string {
  return r.caller === ANONYMOUS && r.claims ? r.claims.sub : r.caller;
}

/** Most checks one AuthorizeBatch may carry. */
export const MAX_BATCH = LIMITS.batchChecks;

export interface AuthDeps {
  readonly log?: DecisionLog | undefined;
  readonly now?: (() => Date) | undefined;
  readonly engine: PolicyEngine;
  readonly access: AccessControl;
  readonly verifier: TokenVerifier;
  /** Which orgs' tokens each org accepts as subjects (cross-org trust); none when absent. */
  readonly trust?: TrustLookup | undefined;
  /** Decide and mint; without it Authorize refuses `mint` (MINT_FORBIDDEN). */
  readonly minter?: DecisionMinter | undefined;
}

/** Authorize and AuthorizeBatch, independent of any transport. */
export class AuthCore {
  /** Every decision made, by org, reason and outcome (metrics read it at scrape time). */
  readonly decisions = new DecisionCounts();

  constructor(private readonly d: AuthDeps) {}

  private resolve(input: SubjectInput, ctx: CallContext): Resolved | Promise<Resolved> {
    return resolveSubject(input, ctx, this.d.access, this.d.verifier, this.d.trust ?? TRUSTS_NONE);
  }

  /**
   * `explain` reveals rule names and CEL errors: only for callers who may manage the org's
   * policies (an admin, or a credential with policies:manage), about their own org.
   */
  private async requireExplainer(ctx: CallContext, orgId: string): Promise<void> {
    const allowed = await this.d.access.admin(ctx, "policies:manage").catch(() => undefined);
    if (allowed !== orgId)
      throw new TesseraError("EXPLAIN_FORBIDDEN", "explain needs an admin or policies:manage credential");
  }

  private decideOne(
    orgId: string,
    subject: Subject,
    check: CheckInput,
    explain: boolean,
    budget?: EvaluationBudget,
  ): Decided {
    const query: AuthzQuery = {
      subject,
      scope: check.scope,
      resource: check.resource,
      context: check.context,
      explain,
      budget,
    };
    const d = this.d.engine.decide(orgId, query);
    // Field by field, not `...d`: a spread here cost Authorize ~3 µs a call (profile).
    const decided: Decided = {
      allow: d.allow,
      reason: d.reason,
      rule: d.rule,
      revision: d.revision,
      decisionId: randomUUID(),
    };
    return d.explanation ? { ...decided, explanation: d.explanation } : decided;
  }

  /** Queues the decision; a promise back means the log is full and the caller must wait (backpressure). */
  private logged(r: Resolved, check: CheckInput, d: Decided): Promise<void> | undefined {
    this.decisions.add(r.orgId, d.allow, d.reason);
    return this.d.log?.record({
      id: d.decisionId,
      orgId: r.orgId,
      atMs: (this.d.now?.() ?? new Date()).getTime(),
      subjectId: r.subject.id,
      caller: r.caller,
      subjectOrg: r.subjectOrg,
      scope: check.scope,
      resourceKind: check.resource?.kind ?? "",
      resourceId: check.resource?.id ?? "",
      allowed: d.allow,
      reason: d.reason,
      rule: d.rule,
      revision: d.revision,
    });
  }

  /**
   * Decides one query. A deny is a Decision, never an error. Not async: with an API key or a
   * cached token the decision comes back at once (the hot path); a promise otherwise, or when
   * the decision log is full and the caller must wait for it.
   */
  authorize(input: AuthorizeInput, ctx: CallContext): Decided | Promise<Decided> {
    if (!input.subject)
      throw new TesseraError("SUBJECT_MISSING", "a subject (token or attributes) is required");
    requireScope(input.scope);
    if (input.mint) return this.decideAndMint(input, ctx);
    const resolved = this.resolve(input.subject, ctx);
    if (input.explain) return this.explained(resolved, input, ctx);
    if (resolved instanceof Promise) return resolved.then((r) => this.decideAndLog(r, input));
    return this.decideAndLog(resolved, input);
  }

  private async explained(resolved: Resolved | Promise<Resolved>, input: AuthorizeInput, ctx: CallContext) {
    const r = await resolved;
    await this.requireExplainer(ctx, r.orgId);
    return this.decideAndLog(r, input);
  }

  /**
   * Decides one check for an already resolved subject and logs it (the AuthZEN endpoints, which
   * resolve their subjects themselves). `budget` bounds the CEL work of a whole request.
   */
  decideResolved(r: Resolved, check: CheckInput, budget?: EvaluationBudget): Decided | Promise<Decided> {
    requireScope(check.scope);
    const decision = this.decideOne(r.orgId, r.subject, check, false, budget);
    const wait = this.logged(r, check, decision);
    return wait ? wait.then(() => decision) : decision;
  }

  /**
   * Routes an HTTP request through the org's RouteMaps and decides it for an already resolved
   * subject (ext_authz, forward auth), logged like decideResolved: the scope and resource the
   * route named, or an empty scope when no route matched (reason NO_ROUTE). An ALLOW of a route
   * with `mint:` also carries a downstream token for a token subject (a service identity has no
   * token to narrow: it is answered without one); a mint refused (another org's token, a chain
   * too deep) throws and logs nothing, as Authorize's. Synchronous but the log and the signing.
   */
  decideHttpResolved(r: Resolved, http: HttpRequest): HttpDecided | Promise<HttpDecided> {
    const { decision, route } = this.d.engine.decideHttp(r.orgId, { subject: r.subject, http });
    // Field by field, not `...decision`: the spread cost this hot path ~10 µs a call (profile),
    // and its garbage as much again.
    const decided: HttpDecided = {
      allow: decision.allow,
      reason: decision.reason,
      rule: decision.rule,
      revision: decision.revision,
      decisionId: randomUUID(),
      route,
      subjectId: r.subject.id,
    };
    const check: CheckInput = route.noRoute
      ? { scope: "" }
      : { scope: route.scope, resource: { kind: route.resource.kind, id: route.resource.id, attr: {} } };
    if (decided.allow && !route.noRoute && route.mint && r.claims) {
      const mint = { ttlSeconds: route.mint.ttlSeconds, audience: route.mint.audience ?? "" };
      const plan = this.minter().planAs(r, r.claims, mint, actorOf(r), "cut");
      return this.mintThenLog(r, check, decided, plan);
    }
    const wait = this.logged(r, check, decided);
    return wait ? wait.then(() => decided) : decided;
  }

  /**
   * AuthZEN's decide and mint: one check for a resolved token subject, planned (every refusal
   * thrown before anything is decided), decided, signed with an ALLOW, then logged.
   */
  decideResolvedAndMint(r: Resolved, check: CheckInput, mint: MintOptionsInput): Promise<DecidedWithToken> {
    requireScope(check.scope);
    if (!r.claims) throw new TesseraError("MINT_SUBJECT_INVALID", "mint needs the subject's token");
    const plan = this.minter().planAs(r, r.claims, mint, actorOf(r), "refuse");
    return this.mintThenLog(r, check, this.decideOne(r.orgId, r.subject, check, false), plan);
  }

  private minter(): DecisionMinter {
    if (!this.d.minter) throw new TesseraError("MINT_FORBIDDEN", "this server does not mint with decisions");
    return this.d.minter;
  }

  /** Signs the planned token for an ALLOW (a signing failure logs nothing), then logs the decision. */
  private async mintThenLog<D extends DecidedWithToken>(
    r: Resolved,
    check: CheckInput,
    decided: D,
    plan: MintPlan,
  ): Promise<D> {
    if (decided.allow) {
      const { token, claims } = await this.minter().sign(plan, check.scope, decided.decisionId);
      decided.token = token;
      decided.expiresAt = claims.exp;
    }
    await this.logged(r, check, decided);
    return decided;
  }

  /** A deny decided before the engine (a suspended agent as the subject), logged like any other. */
  denyResolved(r: Resolved, check: CheckInput, reason: DecisionReason): Decided | Promise<Decided> {
    requireScope(check.scope);
    const decision: Decided = {
      allow: false,
      reason,
      rule: "",
      revision: this.d.engine.revision(r.orgId),
      decisionId: randomUUID(),
    };
    const wait = this.logged(r, check, decision);
    return wait ? wait.then(() => decision) : decision;
  }

  private decideAndLog(r: Resolved, input: AuthorizeInput): Decided | Promise<Decided> {
    const decision = this.decideOne(r.orgId, r.subject, input, input.explain ?? false);
    const wait = this.logged(r, input, decision);
    return wait ? wait.then(() => decision) : decision;
  }

  /**
   * Authorize with `mint`: every refusal the mint can meet is checked before the decision, so
   * a refused call logs nothing; the token is signed before the decision is logged, so a
   * signing failure logs nothing either. A DENY is answered without a token.
   */
  private async decideAndMint(input: AuthorizeInput, ctx: CallContext): Promise<DecidedWithToken> {
    const subject = input.subject as SubjectInput;
    if (subject.kind !== "token")
      throw new TesseraError(
        "MINT_SUBJECT_INVALID",
        "mint needs a token subject: attributes name no identity to mint for",
      );
    if (!this.d.minter) throw new TesseraError("MINT_FORBIDDEN", "this server does not mint on Authorize");
    const r = await this.resolve(subject, ctx);
    if (input.explain) await this.requireExplainer(ctx, r.orgId);
    const claims = r.claims ?? (await this.d.verifier.verify(subject.token));
    const plan = await this.d.minter.plan(r, claims, input.mint as MintOptionsInput, ctx);
    return this.mintThenLog(
      r,
      input,
      this.decideOne(r.orgId, r.subject, input, input.explain ?? false),
      plan,
    );
  }

  /** Decides many checks for one subject, in order. Every check is validated before any is decided. */
  async authorizeBatch(
    subjectInput: SubjectInput | undefined,
    checks: readonly CheckInput[],
    explain: boolean,
    ctx: CallContext,
  ): Promise<Decided[]> {
    if (!subjectInput)
      throw new TesseraError("SUBJECT_MISSING", "a subject (token or attributes) is required");
    if (checks.length === 0) throw new TesseraError("CHECKS_MISSING", "a batch needs at least one check");
    if (checks.length > MAX_BATCH)
      throw new TesseraError("BATCH_TOO_LARGE", `a batch holds at most ${MAX_BATCH} checks`);
    for (const c of checks) requireScope(c.scope);
    const r = await this.resolve(subjectInput, ctx);
    if (explain) await this.requireExplainer(ctx, r.orgId);
    const waits: Promise<void>[] = [];
    // One CEL budget for the whole batch: a request, not each of its checks, is bounded.
    const budget = newEvaluationBudget();
    const decisions = checks.map((c) => {
      const decision = this.decideOne(r.orgId, r.subject, c, explain, budget);
      const wait = this.logged(r, c, decision);
      if (wait) waits.push(wait);
      return decision;
    });
    if (waits.length > 0) await Promise.all(waits);
    return decisions;
  }
}
