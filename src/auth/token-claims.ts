import { isObject } from "../domain/json.js";
import { isTier, type Tier } from "../domain/tiers.js";

/** `typ` header of Tessera access tokens (RFC 9068). */
export const ACCESS_TOKEN_TYP = "at+jwt";

/** Typed permissions a token carries, as agent platforms use them. */
export interface TokenGrants {
  readonly room?: string | undefined;
  readonly role?: "agent" | "tool" | "user" | undefined;
  /** Comma-separated ports. */
  readonly tunnel_ports?: string | undefined;
  /** Structured API permissions by section. */
  readonly api?: Readonly<Record<string, unknown>> | undefined;
}

/**
 * One link of a delegation chain (RFC 8693 `act`): who minted, and who minted for them. `jti`
 * and `sid` name the token the minter used, so revoking it (or its session) ends what it minted.
 */
export interface ActorClaim {
  readonly sub: string;
  readonly jti?: string | undefined;
  readonly sid?: string | undefined;
  readonly act?: ActorClaim | undefined;
}

/** The claims of a Tessera access token, after verification. */
export interface AccessClaims {
  readonly iss: string;
  readonly aud: string;
  readonly sub: string;
  readonly org: string;
  readonly name: string;
  readonly tier: Tier;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  readonly tags: readonly string[];
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
  readonly jti: string;
  /** What the subject is; absent means an agent (tokens minted for agents). */
  readonly kind?: "agent" | "user" | undefined;
  /** The session (refresh-token family) this token belongs to, when it came from a login. */
  readonly sid?: string | undefined;
  readonly grants?: TokenGrants | undefined;
  readonly act?: ActorClaim | undefined;
  /** The Authorize decision a token was minted with (decide and mint): which ALLOW it carries. */
  readonly decision_id?: string | undefined;
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

/** True for a well-formed delegation chain no deeper than 16 links. */
export function isActor(v: unknown, depth = 0): v is ActorClaim {
  if (!isObject(v) || typeof v.sub !== "string" || depth > 16) return false;
  if (v.jti !== undefined && typeof v.jti !== "string") return false;
  if (v.sid !== undefined && typeof v.sid !== "string") return false;
  return v.act === undefined || isActor(v.act, depth + 1);
}

/** The subjects of a delegation chain, nearest minter first (what policies see as `principal.act`). */
export function actorChain(act: ActorClaim | undefined): string[] {
  const out: string[] = [];
  for (let a = act; a; a = a.act) out.push(a.sub);
  return out;
}

export function isGrants(v: unknown): v is TokenGrants {
  if (!isObject(v)) return false;
  const { room, role, tunnel_ports, api, ...rest } = v;
  return (
    Object.keys(rest).length === 0 &&
    (room === undefined || typeof room === "string") &&
    (role === undefined || role === "agent" || role === "tool" || role === "user") &&
    (tunnel_ports === undefined || typeof tunnel_ports === "string") &&
    (api === undefined || isObject(api))
  );
}

/** Narrows a verified payload to AccessClaims; undefined when any claim has the wrong type. */
export function asAccessClaims(p: Record<string, unknown>): AccessClaims | undefined {
  const ok =
    typeof p.iss === "string" &&
    typeof p.aud === "string" &&
    typeof p.sub === "string" &&
    typeof p.org === "string" &&
    typeof p.name === "string" &&
    isTier(p.tier) &&
    isStringList(p.roles) &&
    isStringList(p.scopes) &&
    isStringList(p.tags) &&
    Number.isInteger(p.iat) &&
    Number.isInteger(p.nbf) &&
    Number.isInteger(p.exp) &&
    typeof p.jti === "string" &&
    (p.kind === undefined || p.kind === "agent" || p.kind === "user") &&
    (p.sid === undefined || typeof p.sid === "string") &&
    (p.grants === undefined || isGrants(p.grants)) &&
    (p.act === undefined || isActor(p.act)) &&
    (p.decision_id === undefined || typeof p.decision_id === "string");
  return ok ? (p as unknown as AccessClaims) : undefined;
}
