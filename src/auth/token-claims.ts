import { isTier, type Tier } from "../domain/tiers.js";

/** `typ` header of Tessera access tokens (RFC 9068). */
export const ACCESS_TOKEN_TYP = "at+jwt";

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
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
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
    typeof p.jti === "string";
  return ok ? (p as unknown as AccessClaims) : undefined;
}
