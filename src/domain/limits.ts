import type { ErrorReason } from "./errors.js";

/**
 * Every size Tessera bounds, in one place. Strings are measured in UTF-8 bytes, as they travel.
 * Request fields are bounded by `REQUEST_LIMITS` below, which names these.
 */
export const LIMITS = {
  /** Ids we issue are under 40 bytes; subject and resource ids are the caller's, so they get room. */
  idBytes: 256,
  /** Names of agents, API keys, policies and users, and audiences. */
  nameBytes: 256,
  /** A scope is `domain:verb` (or a pattern of one). */
  scopeBytes: 256,
  /** Resource kinds, role names and grant roles are short type names. */
  kindBytes: 128,
  /** Roles, tags or scopes one principal, token or key carries. */
  listItems: 64,
  /** One role or tag (the tag syntax allows 128 characters). */
  listItemBytes: 128,
  /** Tokens larger than this are refused before any parsing, and never minted. */
  tokenBytes: 8 * 1024,
  /** A client assertion JWT, refused before parsing above this. */
  assertionBytes: 8 * 1024,
  /** RevokeToken/IntrospectToken answer OK for any token (RFC 7009/7662); past this it is not one. */
  anyTokenBytes: 16 * 1024,
  /** Our secrets (tsk_, tat_, tas_, trt_) are 50 bytes. */
  secretBytes: 256,
  /** A password is at most 1024 code points of at most 4 bytes each. */
  passwordBytes: 4 * 1024,
  /** A PEM or JWK public key; an RSA-8192 PEM is under 2 KiB. */
  publicKeyBytes: 16 * 1024,
  /** The SPIFFE spec caps an ID at 2048 bytes; certificate CNs are far shorter. */
  identityBytes: 2048,
  /** A file name, only echoed back in error messages. */
  fileNameBytes: 1024,
  /** Policy YAML; in practice the message limit (64 KiB by default) bounds it first. */
  policyTextBytes: 4 * 1024 * 1024,
  /** A CEL condition in a policy rule. */
  conditionBytes: 4096,
  /** Routes in one RouteMap document: a service's API, not a crawl of every URL. */
  routesPerDocument: 1000,
  /** A RouteMap route's path template (`/todos/{id}`). */
  routePathBytes: 1024,
  /** Segments of a route's path template; a request path with more matches no route. */
  routeSegments: 32,
  /** Hosts one RouteMap document lists. */
  routeHosts: 64,
  /** The longest lifetime a RouteMap may ask a minted token to have (the server cuts it further). */
  routeMintTtlSeconds: 86_400,
  /** A host name (DNS allows 253 characters), with or without the leading `*.` of a wildcard. */
  hostBytes: 255,
  /** Query parameters a routed request shows conditions (`context.http.query`): the first ones. */
  routeQueryKeys: 64,
  /** An HTTP request target (path and query) an Envoy ext_authz check routes. */
  httpPathBytes: 8 * 1024,
  /** An HTTP method, scheme or protocol name (`GET`, `https`, `HTTP/2`). */
  httpWordBytes: 32,
  /** Headers of one checked HTTP request (Envoy forwards them all; none is read but `authorization`). */
  httpHeaders: 256,
  /** One header name. */
  httpHeaderNameBytes: 256,
  /** One header value (room for a Tessera token, a cookie, a forwarded chain). */
  httpHeaderValueBytes: 16 * 1024,
  /** A URL-encoded PEM certificate Envoy forwards (`include_peer_certificate`). */
  certificateBytes: 32 * 1024,
  /** Labels of a peer, or context extensions of a route, in one check. */
  envoyMapEntries: 64,
  /** A label or context-extension value. */
  envoyMapValueBytes: 1024,
  /** Checks in one AuthorizeBatch. */
  batchChecks: 100,
  /** A grants room name (the minter allows 1-128 characters). */
  grantsRoomBytes: 128,
  /** Comma-separated tunnel ports. */
  portListBytes: 1024,
  /** API grants travel in every token minted from them: their JSON is capped at 4 KiB. */
  grantsApiBytes: 4096,
  /** Verified tokens cached by digest (each costs a map entry besides its bytes). */
  tokenCacheEntries: 50_000,
  /** Estimated bytes of the verified-token cache; the oldest entries go first. */
  tokenCacheBytes: 64 * 1024 * 1024,
} as const;

/**
 * The AuthZEN endpoints' JSON fields (not protobuf: REQUEST_LIMITS cannot name them), bounded
 * like their Authorize counterparts. The whole body is bounded by the max message bytes first.
 */
export const AUTHZEN_LIMITS = {
  /** `subject.type`, `resource.type`: a kind. */
  typeBytes: LIMITS.kindBytes,
  /** `subject.id`, `resource.id`: an id. */
  idBytes: LIMITS.idBytes,
  /** `action.name`: a scope, or the verb of one. */
  actionBytes: LIMITS.scopeBytes,
  /** `options.evaluations_semantic`: one of three short words. */
  semanticBytes: 32,
  /** Items of one `evaluations` array (BATCH_TOO_LARGE), as AuthorizeBatch. */
  evaluations: LIMITS.batchChecks,
  /** The `X-Request-ID` echoed back. */
  requestIdBytes: LIMITS.idBytes,
  /** A search's `page.token`: one of ours is a short number. */
  pageTokenBytes: 64,
} as const;

/**
 * The forward-auth headers (rpc/forward-auth.ts): the original request's method, URI and host as
 * the proxy forwards them. Node refuses a request whose headers pass 16 KiB in all (431) first.
 */
export const FORWARD_AUTH_LIMITS = {
  /** `X-Forwarded-Method` / `X-Original-Method`: an HTTP method token. */
  methodBytes: 32,
  /** `X-Forwarded-Uri` / `X-Original-URI`: path and query, as most servers bound a request line. */
  uriBytes: 8 * 1024,
  /** `X-Forwarded-Host`: a host name and a port. */
  hostBytes: LIMITS.hostBytes + 6,
} as const;

/** Bounds of a google.protobuf.Struct (a JSON object) in a request. */
export interface StructBounds {
  /** Nesting levels of objects and lists; the Struct itself is level 1. */
  readonly depth: number;
  /** Object members and list items, counted over the whole Struct. */
  readonly entries: number;
  /** One object key. */
  readonly keyBytes: number;
  /** One string value. */
  readonly stringBytes: number;
  /** Every key and string value together. */
  readonly totalBytes: number;
}

/** The Struct bounds of `context` and `attr`: room for conditions, not for documents. */
export const STRUCT_LIMITS: StructBounds = {
  depth: 8,
  entries: 256,
  keyBytes: 128,
  stringBytes: 4096,
  totalBytes: 32 * 1024,
};

/** The size bound of one request field, with why it is what it is. */
export type FieldBound =
  | { readonly kind: "fixed"; readonly why: string }
  | { readonly kind: "nested"; readonly why: string }
  | {
      readonly kind: "string";
      readonly maxBytes: number;
      readonly why: string;
      readonly reason?: ErrorReason;
    }
  | {
      readonly kind: "list";
      readonly maxItems: number;
      /** For lists of strings or bytes: the most bytes of one item. */
      readonly itemBytes?: number;
      readonly why: string;
      readonly reason?: ErrorReason;
    }
  | {
      readonly kind: "map";
      readonly maxEntries: number;
      readonly keyBytes: number;
      /** For string or bytes values: the most bytes of one value. */
      readonly valueBytes?: number;
      readonly why: string;
    }
  | { readonly kind: "struct"; readonly bounds: StructBounds; readonly why: string };

/** A string bound (`reason` keeps an older, more specific refusal than FIELD_TOO_LARGE). */
const text = (maxBytes: number, why: string, reason?: ErrorReason): FieldBound =>
  reason ? { kind: "string", maxBytes, why, reason } : { kind: "string", maxBytes, why };

/** A repeated-field bound. */
const list = (maxItems: number, itemBytes: number | undefined, why: string): FieldBound =>
  itemBytes === undefined ? { kind: "list", maxItems, why } : { kind: "list", maxItems, itemBytes, why };

/** A google.protobuf.Struct bound. */
const struct = (bounds: StructBounds, why: string): FieldBound => ({ kind: "struct", bounds, why });

// Categories: each request field below names one, so a bound is decided once per kind of value.
const FIXED: FieldBound = { kind: "fixed", why: "a number, bool, enum, Timestamp or Duration: fixed size" };
const NESTED: FieldBound = { kind: "nested", why: "a message, bounded by its own fields" };
const ID = text(LIMITS.idBytes, "an id: ours are under 40 bytes, the caller's get room");
const NAME = text(LIMITS.nameBytes, "a name or audience");
const SCOPE = text(LIMITS.scopeBytes, "a scope, `domain:verb`");
const KIND = text(LIMITS.kindBytes, "a resource kind or role: a short type name");
const TOKEN = text(LIMITS.tokenBytes, "a Tessera JWT: larger ones are never minted", "TOKEN_TOO_LARGE");
const ASSERTION = text(LIMITS.assertionBytes, "a client assertion JWT");
const ANY_TOKEN = text(LIMITS.anyTokenBytes, "any token: RFC 7009/7662 answer OK for invalid ones");
const SECRET = text(LIMITS.secretBytes, "a secret (tsk_, tat_, tas_, trt_): 50 bytes");
const REFRESH = text(LIMITS.tokenBytes, "a refresh token, or an access token sent by mistake");
const PASSWORD = text(LIMITS.passwordBytes, "a password: 1024 code points of up to 4 bytes");
const PUBLIC_KEY = text(LIMITS.publicKeyBytes, "a PEM or JWK public key");
const IDENTITY = text(LIMITS.identityBytes, "a SPIFFE ID (at most 2048 bytes by its spec) or a CN");
const FILE = text(LIMITS.fileNameBytes, "a file name, echoed in error messages");
const POLICY_TEXT = text(LIMITS.policyTextBytes, "policy YAML (the message limit bounds it first)");
const ROOM = text(LIMITS.grantsRoomBytes, "a room name (1-128 characters)");
const CURSOR = text(200, "a query cursor: ours are under 60 bytes");
const PORTS = text(LIMITS.portListBytes, "comma-separated tunnel ports");
const ROLES = list(LIMITS.listItems, LIMITS.listItemBytes, "roles of one principal");
const TAGS = list(LIMITS.listItems, LIMITS.listItemBytes, "tags of one principal");
const SCOPES = list(LIMITS.listItems, LIMITS.scopeBytes, "scopes of one token, key or subject");
const CHECKS: FieldBound = {
  kind: "list",
  maxItems: LIMITS.batchChecks,
  why: "checks in one AuthorizeBatch",
  reason: "BATCH_TOO_LARGE",
};
const HTTP_PATH = text(LIMITS.httpPathBytes, "an HTTP request target, with its query");
const HTTP_WORD = text(LIMITS.httpWordBytes, "an HTTP method, scheme or protocol name");
const HOST = text(LIMITS.hostBytes + 8, "a host name (253 characters) with a port");
const HTTP_BODY = text(
  LIMITS.policyTextBytes,
  "a request body Envoy forwards (never read; the message limit bounds it first)",
);
const HTTP_HEADERS: FieldBound = {
  kind: "map",
  maxEntries: LIMITS.httpHeaders,
  keyBytes: LIMITS.httpHeaderNameBytes,
  valueBytes: LIMITS.httpHeaderValueBytes,
  why: "the headers of one checked HTTP request",
};
const ENVOY_MAP: FieldBound = {
  kind: "map",
  maxEntries: LIMITS.envoyMapEntries,
  keyBytes: LIMITS.nameBytes,
  valueBytes: LIMITS.envoyMapValueBytes,
  why: "a peer's labels or a route's context extensions",
};
const CERTIFICATE = text(LIMITS.certificateBytes, "a URL-encoded PEM certificate");
const ATTRIBUTES = struct(STRUCT_LIMITS, "free-form attributes for conditions");
const API_GRANTS = struct(
  { ...STRUCT_LIMITS, totalBytes: LIMITS.grantsApiBytes },
  "API grants: carried by every token minted from them",
);

/**
 * The bound of every field of every request message (keyed `package.Message.field`), including
 * messages nested in requests. A field without an entry fails the completeness test and stops
 * the server binding its method; adding one is one line here.
 */
export const REQUEST_LIMITS: Readonly<Record<string, FieldBound>> = {
  // tessera.v1.AuthService
  "tessera.v1.AuthenticateRequest.token": TOKEN,
  "tessera.v1.AuthenticateRequest.api_key": SECRET,
  "tessera.v1.AuthenticateRequest.agent_secret": NESTED,
  "tessera.v1.AuthenticateRequest.client_assertion": ASSERTION,
  "tessera.v1.AuthenticateRequest.password": NESTED,
  "tessera.v1.AuthenticateRequest.admin_token": NESTED,
  "tessera.v1.AuthenticateRequest.issue_tokens": FIXED,
  "tessera.v1.AgentSecretCredential.agent_id": ID,
  "tessera.v1.AgentSecretCredential.secret": SECRET,
  "tessera.v1.PasswordCredential.org_id": ID,
  "tessera.v1.PasswordCredential.username": NAME,
  "tessera.v1.PasswordCredential.password": PASSWORD,
  "tessera.v1.AdminTokenCredential.api_key": SECRET,
  "tessera.v1.AdminTokenCredential.admin_token": SECRET,
  "tessera.v1.AuthorizeRequest.token": TOKEN,
  "tessera.v1.AuthorizeRequest.attributes": NESTED,
  "tessera.v1.AuthorizeRequest.scope": SCOPE,
  "tessera.v1.AuthorizeRequest.resource": NESTED,
  "tessera.v1.AuthorizeRequest.context": ATTRIBUTES,
  "tessera.v1.AuthorizeRequest.explain": FIXED,
  "tessera.v1.AuthorizeRequest.mint": NESTED,
  "tessera.v1.MintOptions.ttl": FIXED,
  "tessera.v1.MintOptions.audience": NAME,
  "tessera.v1.SubjectAttributes.id": ID,
  "tessera.v1.SubjectAttributes.tier": FIXED,
  "tessera.v1.SubjectAttributes.roles": ROLES,
  "tessera.v1.SubjectAttributes.scopes": SCOPES,
  "tessera.v1.SubjectAttributes.tags": TAGS,
  "tessera.v1.SubjectAttributes.attr": ATTRIBUTES,
  "tessera.v1.Resource.kind": KIND,
  "tessera.v1.Resource.id": ID,
  "tessera.v1.Resource.attr": ATTRIBUTES,
  "tessera.v1.AuthorizeBatchRequest.token": TOKEN,
  "tessera.v1.AuthorizeBatchRequest.attributes": NESTED,
  "tessera.v1.AuthorizeBatchRequest.checks": CHECKS,
  "tessera.v1.AuthorizeBatchRequest.explain": FIXED,
  "tessera.v1.AuthorizeCheck.scope": SCOPE,
  "tessera.v1.AuthorizeCheck.resource": NESTED,
  "tessera.v1.AuthorizeCheck.context": ATTRIBUTES,
  "tessera.v1.MintTokenRequest.agent_id": ID,
  "tessera.v1.MintTokenRequest.scopes": SCOPES,
  "tessera.v1.MintTokenRequest.audience": NAME,
  "tessera.v1.MintTokenRequest.ttl": FIXED,
  "tessera.v1.MintTokenRequest.grants": NESTED,
  "tessera.v1.MintTokenRequest.tier": FIXED,
  "tessera.v1.Grants.room": ROOM,
  "tessera.v1.Grants.role": KIND,
  "tessera.v1.Grants.tunnel_ports": PORTS,
  "tessera.v1.Grants.api": API_GRANTS,
  "tessera.v1.RefreshTokenRequest.refresh_token": REFRESH,
  "tessera.v1.RevokeTokenRequest.token": ANY_TOKEN,
  "tessera.v1.IntrospectTokenRequest.token": ANY_TOKEN,
  "tessera.v1.LogoutRequest.refresh_token": REFRESH,
  // tessera.v1.AdminService
  "tessera.v1.CreateAgentRequest.name": NAME,
  "tessera.v1.CreateAgentRequest.tier": FIXED,
  "tessera.v1.CreateAgentRequest.roles": ROLES,
  "tessera.v1.CreateAgentRequest.tags": TAGS,
  "tessera.v1.CreateAgentRequest.parent_id": ID,
  "tessera.v1.GetAgentRequest.id": ID,
  "tessera.v1.UpdateAgentRequest.id": ID,
  "tessera.v1.UpdateAgentRequest.tier": FIXED,
  "tessera.v1.UpdateAgentRequest.roles": ROLES,
  "tessera.v1.UpdateAgentRequest.set_roles": FIXED,
  "tessera.v1.UpdateAgentRequest.tags": TAGS,
  "tessera.v1.UpdateAgentRequest.set_tags": FIXED,
  "tessera.v1.UpdateAgentRequest.parent_id": ID,
  "tessera.v1.UpdateAgentRequest.set_parent": FIXED,
  "tessera.v1.SuspendAgentRequest.id": ID,
  "tessera.v1.ResumeAgentRequest.id": ID,
  "tessera.v1.DeleteAgentRequest.id": ID,
  "tessera.v1.CreateAgentSecretRequest.agent_id": ID,
  "tessera.v1.RegisterAgentKeyRequest.agent_id": ID,
  "tessera.v1.RegisterAgentKeyRequest.public_key": PUBLIC_KEY,
  "tessera.v1.RemoveAgentKeyRequest.agent_id": ID,
  "tessera.v1.RemoveAgentKeyRequest.key_id": ID,
  "tessera.v1.CreateApiKeyRequest.name": NAME,
  "tessera.v1.CreateApiKeyRequest.scopes": SCOPES,
  "tessera.v1.CreateApiKeyRequest.expires_at": FIXED,
  "tessera.v1.RevokeApiKeyRequest.id": ID,
  "tessera.v1.RotateApiKeyRequest.id": ID,
  "tessera.v1.RotateApiKeyRequest.grace": FIXED,
  "tessera.v1.CreateApiKeyRequest.rate_limit": FIXED,
  "tessera.v1.SetApiKeyRateLimitRequest.id": ID,
  "tessera.v1.SetApiKeyRateLimitRequest.rate_limit": FIXED,
  "tessera.v1.CreateUserRequest.username": NAME,
  "tessera.v1.CreateUserRequest.password": PASSWORD,
  "tessera.v1.CreateUserRequest.role": KIND,
  "tessera.v1.SetUserPasswordRequest.user_id": ID,
  "tessera.v1.SetUserPasswordRequest.password": PASSWORD,
  "tessera.v1.DeleteUserRequest.user_id": ID,
  "tessera.v1.PutPolicyRequest.document": POLICY_TEXT,
  "tessera.v1.PutPolicyRequest.file": FILE,
  "tessera.v1.PutPolicyRequest.prune": FIXED,
  "tessera.v1.GetPolicyRequest.name": NAME,
  "tessera.v1.GetPolicyRequest.revision": FIXED,
  "tessera.v1.DeletePolicyRequest.name": NAME,
  "tessera.v1.PolicyHistoryRequest.name": NAME,
  "tessera.v1.ValidatePolicyRequest.document": POLICY_TEXT,
  "tessera.v1.ValidatePolicyRequest.file": FILE,
  "tessera.v1.TestPolicyRequest.tests": POLICY_TEXT,
  "tessera.v1.TestPolicyRequest.candidate": POLICY_TEXT,
  "tessera.v1.BindServiceIdentityRequest.identity": IDENTITY,
  "tessera.v1.BindServiceIdentityRequest.source": FIXED,
  "tessera.v1.UnbindServiceIdentityRequest.identity": IDENTITY,
  "tessera.v1.UnbindServiceIdentityRequest.source": FIXED,
  "tessera.v1.TrustOrgRequest.org_id": ID,
  "tessera.v1.UntrustOrgRequest.org_id": ID,
  // QueryAudit and QueryDecisions (issue #13): filters are ids, names, scopes and kinds; the cursor is ours
  "tessera.v1.QueryAuditRequest.since": FIXED,
  "tessera.v1.QueryAuditRequest.until": FIXED,
  "tessera.v1.QueryAuditRequest.actor": ID,
  "tessera.v1.QueryAuditRequest.action": NAME,
  "tessera.v1.QueryAuditRequest.target_kind": KIND,
  "tessera.v1.QueryAuditRequest.target_id": IDENTITY,
  "tessera.v1.QueryAuditRequest.request_id": ID,
  "tessera.v1.QueryAuditRequest.limit": FIXED,
  "tessera.v1.QueryAuditRequest.cursor": CURSOR,
  "tessera.v1.QueryAuditRequest.newest_first": FIXED,
  "tessera.v1.QueryDecisionsRequest.since": FIXED,
  "tessera.v1.QueryDecisionsRequest.until": FIXED,
  "tessera.v1.QueryDecisionsRequest.subject_id": ID,
  "tessera.v1.QueryDecisionsRequest.caller": IDENTITY,
  "tessera.v1.QueryDecisionsRequest.scope": SCOPE,
  "tessera.v1.QueryDecisionsRequest.decision": FIXED,
  "tessera.v1.QueryDecisionsRequest.reason": NAME,
  "tessera.v1.QueryDecisionsRequest.rule": NAME,
  "tessera.v1.QueryDecisionsRequest.resource_kind": KIND,
  "tessera.v1.QueryDecisionsRequest.resource_id": ID,
  "tessera.v1.QueryDecisionsRequest.limit": FIXED,
  "tessera.v1.QueryDecisionsRequest.cursor": CURSOR,
  "tessera.v1.QueryDecisionsRequest.newest_first": FIXED,
  // envoy.service.auth.v3.Authorization (ext_authz): an oversized field is a deny, not an error
  "envoy.service.auth.v3.CheckRequest.attributes": NESTED,
  "envoy.service.auth.v3.AttributeContext.source": NESTED,
  "envoy.service.auth.v3.AttributeContext.destination": NESTED,
  "envoy.service.auth.v3.AttributeContext.request": NESTED,
  "envoy.service.auth.v3.AttributeContext.context_extensions": ENVOY_MAP,
  "envoy.service.auth.v3.AttributeContext.Peer.service": NAME,
  "envoy.service.auth.v3.AttributeContext.Peer.labels": ENVOY_MAP,
  "envoy.service.auth.v3.AttributeContext.Peer.principal": IDENTITY,
  "envoy.service.auth.v3.AttributeContext.Peer.certificate": CERTIFICATE,
  "envoy.service.auth.v3.AttributeContext.Request.time": FIXED,
  "envoy.service.auth.v3.AttributeContext.Request.http": NESTED,
  "envoy.service.auth.v3.AttributeContext.HttpRequest.id": ID,
  "envoy.service.auth.v3.AttributeContext.HttpRequest.method": HTTP_WORD,
  "envoy.service.auth.v3.AttributeContext.HttpRequest.headers": HTTP_HEADERS,
  "envoy.service.auth.v3.AttributeContext.HttpRequest.path": HTTP_PATH,
  "envoy.service.auth.v3.AttributeContext.HttpRequest.host": HOST,
  "envoy.service.auth.v3.AttributeContext.HttpRequest.scheme": HTTP_WORD,
  "envoy.service.auth.v3.AttributeContext.HttpRequest.query": HTTP_PATH,
  "envoy.service.auth.v3.AttributeContext.HttpRequest.fragment": HTTP_PATH,
  "envoy.service.auth.v3.AttributeContext.HttpRequest.size": FIXED,
  "envoy.service.auth.v3.AttributeContext.HttpRequest.protocol": HTTP_WORD,
  "envoy.service.auth.v3.AttributeContext.HttpRequest.body": HTTP_BODY,
  "envoy.service.auth.v3.AttributeContext.HttpRequest.raw_body": HTTP_BODY,
  // tessera.v1.SystemService
  "tessera.v1.CreateOrgRequest.name": NAME,
  "tessera.v1.AssignIdentityNamespaceRequest.org_id": ID,
  "tessera.v1.AssignIdentityNamespaceRequest.namespace": IDENTITY,
  "tessera.v1.UnassignIdentityNamespaceRequest.namespace": IDENTITY,
  "tessera.v1.ListIdentityNamespacesRequest.org_id": ID,
};
