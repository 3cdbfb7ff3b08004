import { randomUUID } from "node:crypto";
import type { DecisionLog } from "../audit/decision-log.js";
import type { TokenVerifier } from "../auth/token-verifier.js";
import { TesseraError } from "../domain/errors.js";
import type { PolicyEngine } from "../engine/engine.js";
import type { AuthzQuery, Decision, ResourceRef, Subject } from "../engine/types.js";
import type { AccessControl } from "./access.js";
import type { CallContext } from "./context.js";
import { requireScope } from "./validate.js";

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

  /** The org whose policies apply and the subject as the engine sees it. */
  private async resolveSubject(
    input: SubjectInput | undefined,
    ctx: CallContext,
  ): Promise<{ orgId: string; subject: Subject }> {
    if (!input) throw new TesseraError("SUBJECT_MISSING", "a subject (token or attributes) is required");
    if (input.kind === "attributes")
      return { orgId: await this.d.access.callerOrg(ctx), subject: input.attributes };
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
    waits: Promise<void>[],
  ): Decision & { decisionId: string } {
    const query: AuthzQuery = {
      subject,
      scope: check.scope,
      resource: check.resource,
      context: check.context,
      explain,
    };
    const decision = { ...this.d.engine.decide(orgId, query), decisionId: randomUUID() };
    const wait = this.logged(orgId, subject, check, decision);
    if (wait) waits.push(wait);
    return decision;
  }

  /** Queues the decision; a promise back means the log is full and the caller must wait (backpressure). */
  private logged(orgId: string, subject: Subject, check: CheckInput, d: Decision & { decisionId: string }) {
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

  /** Decides one query. A deny is a Decision, never an error. */
  async authorize(input: AuthorizeInput, ctx: CallContext): Promise<Decision & { decisionId: string }> {
    if (!input.subject)
      throw new TesseraError("SUBJECT_MISSING", "a subject (token or attributes) is required");
    requireScope(input.scope);
    const { orgId, subject } = await this.resolveSubject(input.subject, ctx);
    const waits: Promise<void>[] = [];
    const decision = this.decideOne(orgId, subject, input, input.explain ?? false, waits);
    if (waits.length > 0) await Promise.all(waits);
    return decision;
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
    const waits: Promise<void>[] = [];
    const decisions = checks.map((c) => this.decideOne(orgId, subject, c, explain, waits));
    if (waits.length > 0) await Promise.all(waits);
    return decisions;
  }
}
