import type { CallContext } from "../core/context.js";
import type { Tessera } from "../core/tessera.js";
import { secondsToTimestamp } from "./convert.js";

/**
 * The policy half of tessera.v1.AdminService: writing needs policies:manage, reading (get,
 * list, history, validate and test, which write nothing) policies:read, which policies:manage
 * and admin include.
 */
export function policyHandlers(t: Tessera) {
  const reader = (ctx: CallContext) => t.admin.adminOrg(ctx, "policies:read");
  const writer = (ctx: CallContext) => t.admin.adminCaller(ctx, "policies:manage");
  return {
    async putPolicy(req: { document: string; file: string; prune: boolean }, ctx: CallContext) {
      const { orgId, actor } = await writer(ctx);
      const r = await t.policies.put(orgId, req.document, req.file || undefined, { prune: req.prune, actor });
      return {
        name: r.names[0] ?? "",
        names: r.names,
        revision: BigInt(r.revision),
        unchanged: r.unchanged,
        added: [...r.added],
        changed: [...r.changed],
        deleted: [...r.removed],
        unchangedNames: [...r.same],
      };
    },
    async getPolicy(req: { name: string; revision: bigint }, ctx: CallContext) {
      const rev = req.revision > 0n ? Number(req.revision) : undefined;
      const p = await t.policies.get(await reader(ctx), req.name, rev);
      return { name: req.name, revision: BigInt(p.revision), document: p.document };
    },
    async listPolicies(_req: unknown, ctx: CallContext) {
      const { policies, revision } = await t.policies.list(await reader(ctx));
      return {
        revision: BigInt(revision),
        policies: policies.map((p) => ({
          name: p.name,
          kind: p.kind,
          revision: BigInt(p.revision),
          ruleCount: p.ruleCount,
          updatedAt: secondsToTimestamp(p.updatedAt),
        })),
      };
    },
    async deletePolicy(req: { name: string }, ctx: CallContext) {
      const { orgId, actor } = await writer(ctx);
      return { revision: BigInt(await t.policies.delete(orgId, req.name, actor)) };
    },
    async policyHistory(req: { name: string }, ctx: CallContext) {
      const changes = await t.policies.history(await reader(ctx), req.name || undefined);
      return {
        changes: changes.map((c) => ({
          revision: BigInt(c.revision),
          name: c.name,
          action: c.action,
          changedAt: secondsToTimestamp(c.changedAt),
          actor: c.actor ?? "",
        })),
      };
    },
    async validatePolicy(req: { document: string; file: string }, ctx: CallContext) {
      return t.policies.validate(await reader(ctx), req.document, req.file || undefined);
    },
    async testPolicy(req: { tests: string; candidate: string }, ctx: CallContext) {
      const r = await t.policies.test(await reader(ctx), req.tests, req.candidate);
      return {
        passed: r.passed,
        failed: r.failed,
        failures: r.failures.map((f) => ({
          ...f,
          trace: (f.trace ?? []).map((t) => ({ ...t, error: t.error ?? "" })),
        })),
      };
    },
  };
}
