import { randomUUID } from "node:crypto";
import type { DecisionLog } from "../audit/decision-log.js";
import type { AccessClaims } from "../auth/token-claims.js";
import type { TokenVerifier } from "../auth/token-verifier.js";
import { TesseraError } from "../domain/errors.js";
import { type EvaluationBudget, newEvaluationBudget } from "../engine/cel-budget.js";
import type { PolicyEngine } from "../engine/engine.js";
import type { AuthzQuery, Decision, ResourceRef, Subject } from "../engine/types.js";
import type { AccessControl } from "./access.js";
import type { CallContext } from "./context.js";
import { requireScope } from "./validate.js";

export type SubjectInput = { kind: "token"; token: string } | { kind: "attributes"; attributes: Subject };

interface Resolved {
  readonly orgId: string;
  readonly subject: Subject;
}

function subjectOfClaims(c: AccessClaims): Resolved {
  return {
    orgId: c.org,
    subject: { id: c.sub, tier: c.tier, roles: c.roles, scopes: c.scopes, tags: c.tags, attr: {} },
  };
}

type Decided = Decision & { decisionId: string };

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

export interface AuthDeps {
  readonly log?: DecisionLog | undefined;
  readonly now?: (() => Date) | undefined;
  readonly engine: PolicyEngine;
  readonly access: AccessControl;
  readonly verifier: TokenVerifier;
}

/** Authorize and AuthorizeBatch, independent of any transport. */
export class AuthCore {
  constructor(private readonly d: AuthDeps) {}

  /**
   * The org whose policies apply and the subject as the engine sees it; a promise only when
   * a token or bearer still needs its signature checked.
   */
  private resolveSubject(input: SubjectInput, ctx: CallContext): Resolved | Promise<Resolved> {
    if (input.kind === "attributes") {
      const orgId = this.d.access.callerOrgNow(ctx);
      if (orgId !== undefined) return { orgId, subject: input.attributes };
      return this.d.access.callerOrg(ctx).then((org) => ({ orgId: org, subject: input.attributes }));
    }
    const cached = this.d.verifier.verifyNow(input.token);
    return cached ? subjectOfClaims(cached) : this.d.verifier.verify(input.token).then(subjectOfClaims);
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
    return { ...this.d.engine.decide(orgId, query), decisionId: randomUUID() };
  }

  /** Queues the decision; a promise back means the log is full and the caller must wait (backpressure). */
  private logged(orgId: string, subject: Subject, check: CheckInput, d: Decided): Promise<void> | undefined {
    return this.d.log?.record({
      id: d.decisionId,
      orgId,
      atMs: (this.d.now?.() ?? new Date()).getTime(),
      subjectId: subject.id,
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
    const resolved = this.resolveSubject(input.subject, ctx);
    if (resolved instanceof Promise) return resolved.then((r) => this.decideAndLog(r, input));
    return this.decideAndLog(resolved, input);
  }

  private decideAndLog({ orgId, subject }: Resolved, input: AuthorizeInput): Decided | Promise<Decided> {
    const decision = this.decideOne(orgId, subject, input, input.explain ?? false);
    const wait = this.logged(orgId, subject, input, decision);
    return wait ? wait.then(() => decision) : decision;
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
    const { orgId, subject } = await this.resolveSubject(subjectInput, ctx);
    const waits: Promise<void>[] = [];
    // One CEL budget for the whole batch: a request, not each of its checks, is bounded.
    const budget = newEvaluationBudget();
    const decisions = checks.map((c) => {
      const decision = this.decideOne(orgId, subject, c, explain, budget);
      const wait = this.logged(orgId, subject, c, decision);
      if (wait) waits.push(wait);
      return decision;
    });
    if (waits.length > 0) await Promise.all(waits);
    return decisions;
  }
}
