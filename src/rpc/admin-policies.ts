import type { Tessera } from "../core/tessera.js";
import { secondsToTimestamp } from "./convert.js";

/** The policy half of tessera.v1.AdminService (policies:manage). */
export function policyHandlers(t: Tessera) {
  const org = (ctx: Parameters<Tessera["admin"]["adminOrg"]>[0]) => t.admin.adminOrg(ctx, "policies:manage");
  return {
    async putPolicy(req: { document: string; file: string }, ctx: Parameters<typeof org>[0]) {
      const { names, revision } = await t.policies.put(await org(ctx), req.document, req.file || undefined);
      return { name: names[0] ?? "", names, revision: BigInt(revision) };
    },
    async getPolicy(req: { name: string; revision: bigint }, ctx: Parameters<typeof org>[0]) {
      const rev = req.revision > 0n ? Number(req.revision) : undefined;
      const p = t.policies.get(await org(ctx), req.name, rev);
      return { name: req.name, revision: BigInt(p.revision), document: p.document };
    },
    async listPolicies(_req: unknown, ctx: Parameters<typeof org>[0]) {
      const { policies, revision } = t.policies.list(await org(ctx));
      return {
        revision: BigInt(revision),
        policies: policies.map((p) => ({
          name: p.name,
          revision: BigInt(p.revision),
          ruleCount: p.ruleCount,
          updatedAt: secondsToTimestamp(p.updatedAt),
        })),
      };
    },
    async deletePolicy(req: { name: string }, ctx: Parameters<typeof org>[0]) {
      return { revision: BigInt(t.policies.delete(await org(ctx), req.name)) };
    },
    async policyHistory(req: { name: string }, ctx: Parameters<typeof org>[0]) {
      const changes = t.policies.history(await org(ctx), req.name || undefined);
      return {
        changes: changes.map((c) => ({
          revision: BigInt(c.revision),
          name: c.name,
          action: c.action,
          changedAt: secondsToTimestamp(c.changedAt),
        })),
      };
    },
    async validatePolicy(req: { document: string; file: string }, ctx: Parameters<typeof org>[0]) {
      return t.policies.validate(await org(ctx), req.document, req.file || undefined);
    },
    async testPolicy(req: { tests: string; candidate: string }, ctx: Parameters<typeof org>[0]) {
      const r = await t.policies.test(await org(ctx), req.tests, req.candidate);
      return { passed: r.passed, failed: r.failed, failures: r.failures.map((f) => ({ ...f })) };
    },
  };
}
