// The request messages of every case: Tessera's (also sent to the limit server, which decodes
// the same types) and Cerbos's equivalent CheckResources. Built from JSON, so the wire form
// is exactly what the README's curl examples send.
import { fromJson } from "@bufbuild/protobuf";
import { CheckResourcesRequestSchema } from "@cerbos/api/cerbos/request/v1/request_pb";
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
