import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import type { Tessera } from "../core/tessera.js";
import { agentToPb, secondsToTimestamp, tierFromPb } from "./convert.js";
import { bindService, type ServiceBinding } from "./handlers.js";
import { pending } from "./pending.js";

/** tessera.v1.AdminService: every method first proves admin authority over an org. */
export function adminService(t: Tessera): ServiceBinding {
  const a = t.admin;
  return bindService(AdminService, {
    createAgent(req, ctx) {
      const orgId = a.adminOrg(ctx);
      const agent = a.createAgent(orgId, {
        name: req.name,
        tier: tierFromPb(req.tier),
        roles: req.roles,
        tags: req.tags,
      });
      return { agent: agentToPb(agent) };
    },
    getAgent(req, ctx) {
      return { agent: agentToPb(a.getAgent(a.adminOrg(ctx), req.id)) };
    },
    listAgents(_req, ctx) {
      return { agents: a.listAgents(a.adminOrg(ctx)).map(agentToPb) };
    },
    putPolicy(req, ctx) {
      const { names, revision } = t.policies.put(a.adminOrg(ctx), req.document, req.file || undefined);
      return { name: names[0] ?? "", names, revision: BigInt(revision) };
    },
    getPolicy(req, ctx) {
      const rev = req.revision > 0n ? Number(req.revision) : undefined;
      const p = t.policies.get(a.adminOrg(ctx), req.name, rev);
      return { name: req.name, revision: BigInt(p.revision), document: p.document };
    },
    listPolicies(_req, ctx) {
      const { policies, revision } = t.policies.list(a.adminOrg(ctx));
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
    deletePolicy(req, ctx) {
      return { revision: BigInt(t.policies.delete(a.adminOrg(ctx), req.name)) };
    },
    policyHistory(req, ctx) {
      const changes = t.policies.history(a.adminOrg(ctx), req.name || undefined);
      return {
        changes: changes.map((c) => ({
          revision: BigInt(c.revision),
          name: c.name,
          action: c.action,
          changedAt: secondsToTimestamp(c.changedAt),
        })),
      };
    },
    validatePolicy(req, ctx) {
      return t.policies.validate(a.adminOrg(ctx), req.document, req.file || undefined);
    },
    testPolicy(req, ctx) {
      const r = t.policies.test(a.adminOrg(ctx), req.tests, req.candidate);
      return { passed: r.passed, failed: r.failed, failures: r.failures.map((f) => ({ ...f })) };
    },
    bindServiceIdentity(req, ctx) {
      const orgId = a.adminOrg(ctx);
      a.bindServiceIdentity(orgId, req.identity);
      return { identity: req.identity, orgId };
    },
    updateAgent: pending,
    suspendAgent: pending,
    resumeAgent: pending,
    deleteAgent: pending,
    createAgentSecret: pending,
    registerAgentKey: pending,
    removeAgentKey: pending,
    rotateOrgCredentials: pending,
    createApiKey: pending,
    listApiKeys: pending,
    revokeApiKey: pending,
    rotateApiKey: pending,
    createUser: pending,
    listUsers: pending,
    setUserPassword: pending,
    deleteUser: pending,
    listSigningKeys: pending,
    rotateSigningKeys: pending,
  });
}
