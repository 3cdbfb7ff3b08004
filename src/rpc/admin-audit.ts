import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  DecisionFilter,
  type QueryAuditRequest,
  type QueryDecisionsRequest,
} from "../../gen/tessera/v1/admin_service_pb.js";
import type { CallContext } from "../core/context.js";
import type { Tessera } from "../core/tessera.js";
import type { AuditRecord } from "../store/admin-audit.js";
import { withAuditFrame } from "../store/admin-audit.js";
import type { DecisionRecord } from "../store/decisions.js";
import type { ServiceBinding } from "./handlers.js";

/** Milliseconds of a Timestamp; undefined when unset. */
function ms(t: Timestamp | undefined): number | undefined {
  return t === undefined ? undefined : timestampDate(t).getTime();
}

const json = (v: object | undefined) => (v === undefined ? "" : JSON.stringify(v));

export function auditRecordToPb(r: AuditRecord) {
  return {
    at: timestampFromMs(r.atMs),
    actor: r.actor.principal,
    authMethod: r.actor.method,
    action: r.action,
    targetKind: r.targetKind,
    targetId: r.targetId,
    beforeJson: json(r.before),
    afterJson: json(r.after),
    requestId: r.requestId,
  };
}

export function decisionRecordToPb(r: DecisionRecord) {
  return {
    id: r.id,
    at: timestampFromMs(r.atMs),
    subjectId: r.subjectId,
    subjectOrg: r.subjectOrg ?? "",
    scope: r.scope,
    resourceKind: r.resourceKind,
    resourceId: r.resourceId,
    allowed: r.allowed,
    reason: r.reason,
    rule: r.rule,
    policyRevision: BigInt(r.revision),
    caller: r.caller ?? "",
  };
}

const decisionWanted = (d: DecisionFilter): boolean | undefined =>
  d === DecisionFilter.ALLOW ? true : d === DecisionFilter.DENY ? false : undefined;

/** AdminService.QueryAudit and QueryDecisions: the caller's own org only, for audit:read. */
export function auditQueryHandlers(t: Tessera) {
  const q = t.auditQueries;
  return {
    async queryAudit(req: QueryAuditRequest, ctx: CallContext) {
      const orgId = await t.admin.adminOrg(ctx, "audit:read");
      const page = await q.queryAudit({
        orgId,
        fromMs: ms(req.since),
        toMs: ms(req.until),
        actor: req.actor,
        action: req.action,
        targetKind: req.targetKind,
        targetId: req.targetId,
        requestId: req.requestId,
        limit: req.limit,
        cursor: req.cursor,
        newestFirst: req.newestFirst,
      });
      return {
        records: page.records.map(auditRecordToPb),
        nextCursor: page.nextCursor,
        hasMore: page.hasMore,
      };
    },
    async queryDecisions(req: QueryDecisionsRequest, ctx: CallContext) {
      const orgId = await t.admin.adminOrg(ctx, "audit:read");
      const page = await q.queryDecisions({
        orgId,
        fromMs: ms(req.since),
        toMs: ms(req.until),
        subjectId: req.subjectId,
        caller: req.caller,
        scope: req.scope,
        allowed: decisionWanted(req.decision),
        reason: req.reason,
        rule: req.rule,
        resourceKind: req.resourceKind,
        resourceId: req.resourceId,
        limit: req.limit,
        cursor: req.cursor,
        newestFirst: req.newestFirst,
      });
      return {
        records: page.records.map(decisionRecordToPb),
        nextCursor: page.nextCursor,
        hasMore: page.hasMore,
      };
    },
  };
}

/**
 * Runs every handler of a service inside an audit frame: the changes a call makes are recorded
 * with its request id (`x-request-id`) and the caller its access check proves.
 */
export function withAuditFrames(binding: ServiceBinding): ServiceBinding {
  const handlers: ServiceBinding["handlers"] = {};
  for (const [name, handler] of Object.entries(binding.handlers)) {
    handlers[name] = (req, ctx) => withAuditFrame(ctx.header("x-request-id"), () => handler(req, ctx));
  }
  return { ...binding, handlers };
}
