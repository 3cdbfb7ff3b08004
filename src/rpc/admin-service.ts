import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import type { Tessera } from "../core/tessera.js";
import type { TrustRow } from "../store/org-trust.js";
import { auditQueryHandlers, withAuditFrames } from "./admin-audit.js";
import { policyHandlers } from "./admin-policies.js";
import {
  agentToPb,
  apiKeyToPb,
  rateLimitFromPb,
  secondsToTimestamp,
  signingKeyToPb,
  tierFromPb,
  timestampSeconds,
  userToPb,
} from "./convert.js";
import { bindService, type ServiceBinding } from "./handlers.js";
import { bindingToPb, namespaceToPb, sourceFromPb, sourceToPb } from "./identity-convert.js";

const trustedToPb = (t: TrustRow) => ({
  orgId: t.trustedOrgId,
  trustedAt: secondsToTimestamp(t.createdAt),
  actor: t.actor,
});

/**
 * tessera.v1.AdminService: every method first proves authority over an org for its scope. Each
 * runs in an audit frame: the changes it makes are recorded with the caller and request id.
 */
export function adminService(t: Tessera): ServiceBinding {
  const a = t.admin;
  const agents = (ctx: Parameters<typeof a.adminOrg>[0]) => a.adminOrg(ctx, "capabilities:manage");
  return withAuditFrames(
    bindService(AdminService, {
      ...policyHandlers(t),
      ...auditQueryHandlers(t),
      async createAgent(req, ctx) {
        const agent = await a.createAgent(await agents(ctx), {
          name: req.name,
          tier: tierFromPb(req.tier),
          roles: req.roles,
          tags: req.tags,
          parentId: req.parentId || undefined,
        });
        return { agent: agentToPb(agent) };
      },
      async getAgent(req, ctx) {
        const orgId = await agents(ctx);
        const agent = await a.getAgent(orgId, req.id);
        return { agent: agentToPb(agent, (await t.usage.ofOrg(orgId)).get(`agent:${agent.id}`)) };
      },
      async listAgents(_req, ctx) {
        const orgId = await agents(ctx);
        const usage = await t.usage.ofOrg(orgId);
        return {
          agents: (await a.listAgents(orgId)).map((ag) => agentToPb(ag, usage.get(`agent:${ag.id}`))),
        };
      },
      async updateAgent(req, ctx) {
        const agent = await a.updateAgent(await agents(ctx), req.id, {
          tier: req.tier === Tier.UNSPECIFIED ? undefined : tierFromPb(req.tier),
          roles: req.setRoles ? req.roles : undefined,
          tags: req.setTags ? req.tags : undefined,
          parentId: req.setParent ? req.parentId || null : undefined,
        });
        return { agent: agentToPb(agent) };
      },
      async suspendAgent(req, ctx) {
        return { agent: agentToPb(await a.setSuspended(await agents(ctx), req.id, true)) };
      },
      async resumeAgent(req, ctx) {
        return { agent: agentToPb(await a.setSuspended(await agents(ctx), req.id, false)) };
      },
      async deleteAgent(req, ctx) {
        await a.deleteAgent(await agents(ctx), req.id);
        return {};
      },
      async createAgentSecret(req, ctx) {
        return { secret: await t.agentCredentials.createSecret(await agents(ctx), req.agentId) };
      },
      async registerAgentKey(req, ctx) {
        return await t.agentCredentials.registerKey(await agents(ctx), req.agentId, req.publicKey);
      },
      async removeAgentKey(req, ctx) {
        await t.agentCredentials.removeKey(await agents(ctx), req.agentId, req.keyId);
        return {};
      },
      async bindServiceIdentity(req, ctx) {
        const orgId = await a.adminOrg(ctx);
        const bound = await t.serviceIdentities.bind(orgId, req.identity, sourceFromPb(req.source));
        return { identity: bound.identity, orgId, source: sourceToPb(bound.source) };
      },
      async listServiceIdentities(_req, ctx) {
        const listed = await t.serviceIdentities.list(await a.adminOrg(ctx));
        return {
          identities: listed.bindings.map(bindingToPb),
          namespaces: listed.namespaces.map(namespaceToPb),
        };
      },
      async unbindServiceIdentity(req, ctx) {
        await t.serviceIdentities.unbind(await a.adminOrg(ctx), req.identity, sourceFromPb(req.source));
        return {};
      },
      async trustOrg(req, ctx) {
        const caller = await a.adminCaller(ctx, "trust:manage");
        return { trusted: trustedToPb(await t.trustAdmin.trust(caller, req.orgId)) };
      },
      async listTrustedOrgs(_req, ctx) {
        return { orgs: (await t.trustAdmin.list(await a.adminOrg(ctx, "trust:manage"))).map(trustedToPb) };
      },
      async untrustOrg(req, ctx) {
        await t.trustAdmin.untrust(await a.adminCaller(ctx, "trust:manage"), req.orgId);
        return {};
      },
      async rotateOrgCredentials(_req, ctx) {
        return t.apiKeys.rotateOrgCredentials(await a.adminOrg(ctx));
      },
      async createApiKey(req, ctx) {
        const issued = await t.apiKeys.create(
          await a.adminOrg(ctx),
          req.name,
          req.scopes,
          timestampSeconds(req.expiresAt),
          rateLimitFromPb(req.rateLimit),
        );
        return { apiKey: issued.secret, key: apiKeyToPb(issued.key) };
      },
      async setApiKeyRateLimit(req, ctx) {
        await t.apiKeys.setRateLimit(await a.adminOrg(ctx), req.id, rateLimitFromPb(req.rateLimit));
        return {};
      },
      async listApiKeys(_req, ctx) {
        const orgId = await a.adminOrg(ctx);
        const usage = await t.usage.ofOrg(orgId);
        return {
          keys: (await t.apiKeys.list(orgId)).map((k) => apiKeyToPb(k, usage.get(`api_key:${k.id}`))),
          orgCredentials: (await t.apiKeys.orgCredentials(orgId)).map((k) => ({
            ...apiKeyToPb(k, usage.get(`${k.kind}:${k.id}`)),
            kind: k.kind === "admin_token" ? "admin_token" : "primary",
          })),
        };
      },
      async revokeApiKey(req, ctx) {
        await t.apiKeys.revoke(await a.adminOrg(ctx), req.id);
        return {};
      },
      async rotateApiKey(req, ctx) {
        const grace = req.grace ? Number(req.grace.seconds) : undefined;
        const issued = await t.apiKeys.rotate(await a.adminOrg(ctx), req.id, grace);
        return { apiKey: issued.secret, key: apiKeyToPb(issued.key) };
      },
      async createUser(req, ctx) {
        const user = await t.users.create(await a.adminOrg(ctx), {
          username: req.username,
          password: req.password,
          role: req.role,
        });
        return { user: userToPb(user) };
      },
      async listUsers(_req, ctx) {
        return { users: (await t.users.list(await a.adminOrg(ctx))).map(userToPb) };
      },
      async setUserPassword(req, ctx) {
        await t.users.setPassword(await a.adminOrg(ctx), req.userId, req.password);
        return {};
      },
      async deleteUser(req, ctx) {
        await t.users.delete(await a.adminOrg(ctx), req.userId);
        await t.sessions.endAllFor(req.userId);
        return {};
      },
      // Readable by any org admin; rotating is the operator's (SystemService).
      async listSigningKeys(_req, ctx) {
        await a.adminOrg(ctx);
        return { keys: (await t.keys.list()).map(signingKeyToPb) };
      },
    }),
  );
}
