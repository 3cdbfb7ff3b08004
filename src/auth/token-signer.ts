import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import type { KeyRing } from "./key-ring.js";
import { ACCESS_TOKEN_TYP, type AccessClaims } from "./token-claims.js";

export type TokenContent = Omit<AccessClaims, "iat" | "nbf" | "exp" | "jti" | "iss">;

/** Signs access tokens with the ring's active key (`kid` in the header). */
export class TokenSigner {
  constructor(
    private readonly keys: KeyRing,
    private readonly issuer: string,
  ) {}

  async sign(
    content: TokenContent,
    nowSec: number,
    ttlSec: number,
  ): Promise<{ token: string; claims: AccessClaims }> {
    const key = this.keys.signingKey();
    const claims: AccessClaims = {
      ...content,
      iss: this.issuer,
      iat: nowSec,
      nbf: nowSec,
      exp: nowSec + ttlSec,
      jti: randomUUID(),
    };
    const token = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYP })
      .sign(key.privateKey);
    return { token, claims };
  }
}
