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
      listOrgs(_req, ctx) {
        s.operator(ctx);
        return { orgs: s.listOrgs().map(orgToPb) };
      },
      createOrg(req, ctx) {
        const created = s.createOrg(s.operator(ctx), req.name);
        return { org: orgToPb(created.org), apiKey: created.apiKey, adminToken: created.adminToken };
      },
      listSigningKeys(_req, ctx) {
        s.operator(ctx);
        return { keys: s.listKeys().map(signingKeyToPb) };
      },
      async rotateSigningKeys(_req, ctx) {
        return { keys: (await s.rotateKeys(s.operator(ctx))).map(signingKeyToPb) };
      },
      assignIdentityNamespace(req, ctx) {
        s.operator(ctx);
        return { namespace: namespaceToPb(ids.assign(req.orgId, req.namespace)) };
      },
      unassignIdentityNamespace(req, ctx) {
        s.operator(ctx);
        const done = ids.unassign(req.namespace);
        return { namespace: namespaceToPb(done.namespace), removed: done.removed.map(bindingToPb) };
      },
      listIdentityNamespaces(req, ctx) {
        s.operator(ctx);
        return { namespaces: ids.namespaces(req.orgId || undefined).map(namespaceToPb) };
      },
    }),
  );
}
