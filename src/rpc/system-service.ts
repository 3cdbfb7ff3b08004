import { SystemService } from "../../gen/tessera/v1/system_service_pb.js";
import type { Tessera } from "../core/tessera.js";
import { withAuditFrames } from "./admin-audit.js";
import { signingKeyToPb } from "./convert.js";
import { bindService, type ServiceBinding } from "./handlers.js";
import { bindingToPb, namespaceToPb, orgToPb } from "./identity-convert.js";

/** tessera.v1.SystemService: every method first proves the operator token; no org credential can. */
export function systemService(t: Tessera): ServiceBinding {
  const s = t.system;
  const ids = t.serviceIdentities;
  return withAuditFrames(
    bindService(SystemService, {
      async listOrgs(_req, ctx) {
        await s.operator(ctx);
        return { orgs: (await s.listOrgs()).map(orgToPb) };
      },
      async createOrg(req, ctx) {
        const created = await s.createOrg(await s.operator(ctx), req.name);
        return { org: orgToPb(created.org), apiKey: created.apiKey, adminToken: created.adminToken };
      },
      async listSigningKeys(_req, ctx) {
        await s.operator(ctx);
        return { keys: (await s.listKeys()).map(signingKeyToPb) };
      },
      async rotateSigningKeys(_req, ctx) {
        return { keys: (await s.rotateKeys(await s.operator(ctx))).map(signingKeyToPb) };
      },
      async assignIdentityNamespace(req, ctx) {
        await s.operator(ctx);
        return { namespace: namespaceToPb(await ids.assign(req.orgId, req.namespace)) };
      },
      async unassignIdentityNamespace(req, ctx) {
        await s.operator(ctx);
        const done = await ids.unassign(req.namespace);
        return { namespace: namespaceToPb(done.namespace), removed: done.removed.map(bindingToPb) };
      },
      async listIdentityNamespaces(req, ctx) {
        await s.operator(ctx);
        return { namespaces: (await ids.namespaces(req.orgId || undefined)).map(namespaceToPb) };
      },
    }),
  );
}
