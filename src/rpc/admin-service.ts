import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import type { Tessera } from "../core/tessera.js";
import { agentToPb, secondsToTimestamp, tierFromPb } from "./convert.js";
import { bindService, type ServiceBinding } from "./handlers.js";

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
      const { name, revision } = a.putPolicy(a.adminOrg(ctx), req.document);
      return { name, revision: BigInt(revision) };
    },
    listPolicies(_req, ctx) {
      const { policies, revision } = a.listPolicies(a.adminOrg(ctx));
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
    bindServiceIdentity(req, ctx) {
      const orgId = a.adminOrg(ctx);
      a.bindServiceIdentity(orgId, req.identity);
      return { identity: req.identity, orgId };
    },
  });
}
