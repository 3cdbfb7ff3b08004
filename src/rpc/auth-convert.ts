import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import type {
  AuthenticateRequest,
  Grants,
  IntrospectTokenResponseSchema,
  TokenPairSchema,
} from "../../gen/tessera/v1/auth_service_pb.js";
import type { ActorClaim, TokenGrants } from "../auth/token-claims.js";
import type { Credential } from "../core/authenticate.js";
import type { Introspection, TokenPair } from "../core/sessions.js";
import { secondsToTimestamp, tierToPb } from "./convert.js";

/** The credential oneof of Authenticate. */
export function credentialFromPb(c: AuthenticateRequest["credential"]): Credential | undefined {
  switch (c.case) {
    case "token":
      return { kind: "token", token: c.value };
    case "apiKey":
      return { kind: "apiKey", apiKey: c.value };
    case "adminToken":
      return { kind: "adminToken", apiKey: c.value.apiKey, adminToken: c.value.adminToken };
    case "agentSecret":
      return { kind: "agentSecret", agentId: c.value.agentId, secret: c.value.secret };
    case "clientAssertion":
      return { kind: "clientAssertion", assertion: c.value };
    case "password":
      return {
        kind: "password",
        orgId: c.value.orgId,
        username: c.value.username,
        password: c.value.password,
      };
    default:
      return undefined;
  }
}

/** Grants as the token will carry them: only the fields that are set. */
export function grantsFromPb(g: Grants | undefined): TokenGrants | undefined {
  if (!g) return undefined;
  const out: { room?: string; role?: string; tunnel_ports?: string; api?: JsonObject } = {};
  if (g.room) out.room = g.room;
  if (g.role) out.role = g.role;
  if (g.tunnelPorts) out.tunnel_ports = g.tunnelPorts;
  if (g.api && Object.keys(g.api).length > 0) out.api = g.api;
  // The role is checked by the minter (agent|tool|user); the cast is validated there.
  return out as TokenGrants;
}

export function tokenPairToPb(p: TokenPair): MessageInitShape<typeof TokenPairSchema> {
  return {
    accessToken: p.accessToken,
    accessTokenExpiresAt: secondsToTimestamp(p.accessExpiresAt),
    refreshToken: p.refreshToken,
    refreshTokenExpiresAt: secondsToTimestamp(p.refreshExpiresAt),
  };
}

/** The `act` chain's minters, nearest first. */
function actorsOf(act: ActorClaim | undefined): string[] {
  const out: string[] = [];
  for (let a = act; a; a = a.act) out.push(a.sub);
  return out;
}

export function introspectionToPb(r: Introspection): MessageInitShape<typeof IntrospectTokenResponseSchema> {
  if (!r.active) return { active: false };
  const c = r.claims;
  return {
    active: true,
    tokenType: r.type,
    sub: c.sub ?? "",
    org: c.org ?? "",
    scopes: [...(c.scopes ?? [])],
    roles: [...(c.roles ?? [])],
    jti: c.jti ?? "",
    iss: c.iss ?? "",
    aud: c.aud ?? "",
    decisionId: c.decision_id ?? "",
    actors: actorsOf(c.act),
    ...(c.tier ? { tier: tierToPb(c.tier) } : {}),
    ...(c.exp !== undefined ? { exp: secondsToTimestamp(c.exp) } : {}),
    ...(c.iat !== undefined ? { iat: secondsToTimestamp(c.iat) } : {}),
  };
}
