import { AuthService, Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import type { Credential } from "../core/auth.js";
import type { Tessera } from "../core/tessera.js";
import { durationSeconds, principalToPb, resourceFromPb, secondsToTimestamp, tierFromPb } from "./convert.js";
import { bindService, type ServiceBinding } from "./handlers.js";

/** tessera.v1.AuthService: wire ⇄ domain mapping only. */
export function authService(t: Tessera): ServiceBinding {
  return bindService(AuthService, {
    async authenticate(req, ctx) {
      const c = req.credential;
      const cred: Credential | undefined =
        c.case === "token"
          ? { kind: "token", token: c.value }
          : c.case === "apiKey"
            ? { kind: "apiKey", apiKey: c.value }
            : undefined;
      return { principal: principalToPb(await t.auth.authenticate(cred, ctx)) };
    },

    async authorize(req, ctx) {
      const s = req.subject;
      const subject =
        s.case === "token"
          ? ({ kind: "token", token: s.value } as const)
          : s.case === "attributes"
            ? ({
                kind: "attributes",
                attributes: {
                  id: s.value.id,
                  tier: tierFromPb(s.value.tier),
                  roles: s.value.roles,
                  scopes: s.value.scopes.length > 0 ? s.value.scopes : undefined,
                  tags: s.value.tags,
                  attr: s.value.attr ?? {},
                },
              } as const)
            : undefined;
      const d = await t.auth.authorize(
        { subject, scope: req.scope, resource: resourceFromPb(req.resource), context: req.context },
        ctx,
      );
      return {
        decision: d.allow ? Decision.ALLOW : Decision.DENY,
        reason: d.reason,
        rule: d.rule,
        policyRevision: BigInt(d.revision),
        decisionId: d.decisionId,
      };
    },

    async mintToken(req, ctx) {
      const orgId = t.admin.adminOrg(ctx);
      const { token, claims } = await t.auth.mintToken(orgId, {
        agentId: req.agentId,
        scopes: req.scopes,
        audience: req.audience,
        ttlSeconds: durationSeconds(req.ttl),
      });
      return { token, expiresAt: secondsToTimestamp(claims.exp), tokenId: claims.jti };
    },

    getJwks() {
      return { keys: t.keys.jwks() as Record<string, string>[] };
    },
  });
}
