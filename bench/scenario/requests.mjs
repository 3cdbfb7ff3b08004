// The request messages of every case: Tessera's (also sent to the limit server, which decodes
// the same types) and Cerbos's equivalent CheckResources. Built from JSON, so the wire form
// is exactly what the README's curl examples send.
import { fromJson } from "@bufbuild/protobuf";
import { CheckResourcesRequestSchema } from "@cerbos/api/cerbos/request/v1/request_pb";
import { CheckRequestSchema } from "../../dist/gen/envoy/service/auth/v3/external_auth_pb.js";
import {
  AuthenticateRequestSchema,
  AuthorizeRequestSchema,
  MintTokenRequestSchema,
} from "../../dist/gen/tessera/v1/auth_service_pb.js";

export const SCOPE = "governance:propose";
const RESOURCE = { kind: "tool", id: "t1", attr: { env: "staging" } };

/** Authorize with the subject as explicit attributes (the org comes from x-api-key). */
export const authorizeAttributes = () =>
  fromJson(AuthorizeRequestSchema, {
    attributes: { id: "agent_abc123", tier: "TIER_VERIFIED", roles: ["operator"] },
    scope: SCOPE,
    resource: RESOURCE,
  });

/** Authorize with the subject as a Tessera token. */
export const authorizeToken = (token) =>
  fromJson(AuthorizeRequestSchema, { token, scope: SCOPE, resource: RESOURCE });

/** Authorize with a token subject and `mint`: an ALLOW comes back with a token for the next hop. */
export const authorizeTokenMint = (token) =>
  fromJson(AuthorizeRequestSchema, { token, scope: SCOPE, resource: RESOURCE, mint: { ttl: "600s" } });

export const authenticateApiKey = (apiKey) => fromJson(AuthenticateRequestSchema, { apiKey });

export const mintToken = (agentId) =>
  fromJson(MintTokenRequestSchema, { agentId, scopes: [SCOPE], ttl: "600s" });

/** The same question for Cerbos: principal attributes carry the tier and its rank. */
export const cerbosCheck = () =>
  fromJson(CheckResourcesRequestSchema, {
    requestId: "bench",
    principal: { id: "agent_abc123", roles: ["operator"], attr: { tier: "verified", tier_rank: 1 } },
    resources: [{ actions: [SCOPE], resource: RESOURCE }],
  });

export const CERBOS_ACTION = SCOPE;

/**
 * ext_authz: what Envoy asks about an agent's `POST /tools/t1/proposals` carrying its token
 * (routed by bench/scenario/mesh.yaml to governance:propose on tool-api t1). The caller's own
 * credential, the org's API key, travels as `x-api-key` metadata of the Check call.
 */
export const extAuthzCheck = (token) =>
  fromJson(CheckRequestSchema, {
    attributes: {
      request: {
        http: {
          id: "bench-request",
          method: "POST",
          path: "/tools/t1/proposals",
          host: "tools.internal",
          scheme: "http",
          protocol: "HTTP/1.1",
          headers: {
            ":method": "POST",
            ":path": "/tools/t1/proposals",
            ":authority": "tools.internal",
            authorization: `Bearer ${token}`,
            "content-type": "application/json",
            "user-agent": "bench-agent/1.0",
            "x-request-id": "bench-request",
          },
        },
      },
    },
  });

/**
 * AuthZEN: the scenario's question as one Access Evaluation body, the same bytes for Tessera and
 * Cerbos. Tessera reads `roles` and `tier` of an unknown subject's properties; Cerbos reads the
 * roles from `cerbos.roles` and the rest as principal attributes (its policy wants `tier_rank`).
 * Each side's extra keys are plain attributes to the other, which its rules do not read.
 */
export const authzenEvaluation = () =>
  JSON.stringify({
    subject: {
      type: "agent",
      id: "agent_abc123",
      properties: { roles: ["operator"], "cerbos.roles": ["operator"], tier: "verified", tier_rank: 1 },
    },
    action: { name: SCOPE },
    resource: { type: RESOURCE.kind, id: RESOURCE.id, properties: RESOURCE.attr },
  });
