import { KeyObject, randomUUID, sign } from "node:crypto";
import { TesseraError } from "../domain/errors.js";
import { LIMITS } from "../domain/limits.js";
import type { KeyRing } from "./key-ring.js";
import { ACCESS_TOKEN_TYP, type AccessClaims } from "./token-claims.js";

export type TokenContent = Omit<AccessClaims, "iat" | "nbf" | "exp" | "jti" | "iss">;

const b64url = (s: string | Buffer) => Buffer.from(s).toString("base64url");

/** Base64url characters of a signature: EdDSA and ES256 (r||s) are both 64 bytes. */
const SIGNATURE_CHARS: Readonly<Record<string, number>> = { EdDSA: 86, ES256: 86 };
/** For an algorithm not listed: room for a 4096-bit RSA signature (512 bytes). */
const LARGEST_SIGNATURE_CHARS = 683;

/**
 * Refuses claims whose token would exceed what the verifier accepts, before signing: a token
 * nobody can use is never issued, and a caller cannot mint tokens that cost the cache 8 KiB+.
 */
function assertFits(input: string, alg: string): void {
  const size = input.length + 1 + (SIGNATURE_CHARS[alg] ?? LARGEST_SIGNATURE_CHARS);
  if (size > LIMITS.tokenBytes) {
    throw new TesseraError(
      "CLAIMS_TOO_LARGE",
      `the token would be ${size} bytes; tokens are at most ${LIMITS.tokenBytes} (fewer scopes, tags, roles or grants)`,
      { limit: String(LIMITS.tokenBytes), size: String(size) },
    );
  }
}

/**
 * Signs access tokens with the ring's active key (`kid` in the header), refusing claims too
 * large for the verifier with CLAIMS_TOO_LARGE. The compact JWS is
 * assembled here and signed with node:crypto directly: jose signs through WebCrypto, which
 * costs several times a plain Ed25519 signature on the MintToken path.
 */
export class TokenSigner {
  private readonly headers = new Map<string, string>();
  private readonly keyObjects = new WeakMap<object, KeyObject>();

  constructor(
    private readonly keys: KeyRing,
    private readonly issuer: string,
  ) {}

  /** The encoded header for a key, built once per kid. */
  private header(alg: string, kid: string): string {
    let h = this.headers.get(kid);
    if (!h) {
      h = b64url(JSON.stringify({ alg, kid, typ: ACCESS_TOKEN_TYP }));
      this.headers.set(kid, h);
    }
    return h;
  }

  private keyObject(key: object): KeyObject {
    let k = this.keyObjects.get(key);
    if (!k) {
      // jose keys are WebCrypto CryptoKeys (or already KeyObjects); convert once and keep.
      k = toKeyObject(key);
      this.keyObjects.set(key, k);
    }
    return k;
  }

  async sign(
    content: TokenContent,
    nowSec: number,
    ttlSec: number,
  ): Promise<{ token: string; claims: AccessClaims }> {
    return this.signNow(content, nowSec, ttlSec);
  }

  /** `sign` at once, without a promise (MintToken answers in the same turn). */
  signNow(content: TokenContent, nowSec: number, ttlSec: number): { token: string; claims: AccessClaims } {
    const key = this.keys.signingKey();
    const claims: AccessClaims = {
      ...content,
      iss: this.issuer,
      iat: nowSec,
      nbf: nowSec,
      exp: nowSec + ttlSec,
      jti: randomUUID(),
    };
    const input = `${this.header(key.alg, key.kid)}.${b64url(JSON.stringify(claims))}`;
    assertFits(input, key.alg);
    const privateKey = this.keyObject(key.privateKey as object);
    // EdDSA: the algorithm is the key's (null); ES256: JWS wants r||s, not DER.
    // The signing input is base64url and dots (ASCII): latin1 copies it without UTF-8 encoding.
    const data = Buffer.from(input, "latin1");
    const signature =
      key.alg === "EdDSA"
        ? sign(null, data, privateKey)
        : sign("sha256", data, { key: privateKey, dsaEncoding: "ieee-p1363" });
    return { token: `${input}.${b64url(signature)}`, claims };
  }
}

function toKeyObject(key: object): KeyObject {
  if (key instanceof KeyObject) return key;
  return KeyObject.from(key as Parameters<typeof KeyObject.from>[0]);
}
