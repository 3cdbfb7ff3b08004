import { createHash, createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import { TesseraError } from "../domain/errors.js";
import { LIMITS } from "../domain/limits.js";
import { hasDuplicateKeys } from "./strict-json.js";

/** The algorithms a registered key may sign with; each key is pinned to exactly one. */
export type AgentKeyAlg = "EdDSA" | "RS256";

/** A public key accepted for an agent. */
export interface ParsedPublicKey {
  readonly key: KeyObject;
  readonly alg: AgentKeyAlg;
  /** Only the public members, as exported by node:crypto (no alg, use or kid from the caller). */
  readonly jwk: JsonWebKey;
  /** RFC 7638 JWK thumbprint (SHA-256, base64url). */
  readonly thumbprint: string;
}

const MAX_INPUT = LIMITS.publicKeyBytes;
const MIN_RSA_BITS = 2048;
// Larger moduli buy nothing and make every verification slower: a cheap way to load the server.
const MAX_RSA_BITS = 8192;
// Members that only a private or symmetric JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037).
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
const PEM = /^-----BEGIN PUBLIC KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END PUBLIC KEY-----$/;

const invalid = (message: string) => new TesseraError("PUBLIC_KEY_INVALID", message);

/**
 * Parses a public key given as PEM (SPKI "PUBLIC KEY") or a JWK JSON object. Only Ed25519
 * (→ EdDSA) and RSA of at least 2048 bits (→ RS256) are accepted. Private keys are refused
 * rather than reduced to their public half: whoever sent one has leaked it.
 */
export function parsePublicKey(text: string): ParsedPublicKey {
  if (text.length > MAX_INPUT) throw invalid("the public key is too large");
  const trimmed = text.trim();
  const key = trimmed.startsWith("{") ? fromJwk(trimmed) : fromPem(trimmed);
  const alg = algorithmOf(key);
  const jwk = key.export({ format: "jwk" });
  return { key, alg, jwk, thumbprint: thumbprint(jwk) };
}

function fromPem(pem: string): KeyObject {
  // Only the SPKI label: createPublicKey would also derive a public key from a private key
  // or a certificate, which are not what we ask for.
  if (!PEM.test(pem)) throw invalid('expected a PEM "PUBLIC KEY" or a JWK');
  try {
    return createPublicKey({ key: pem, format: "pem", type: "spki" });
  } catch {
    throw invalid("the PEM is not a valid public key");
  }
}

function fromJwk(json: string): KeyObject {
  let jwk: unknown;
  try {
    jwk = JSON.parse(json);
  } catch {
    throw invalid("the JWK is not JSON");
  }
  if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk) || hasDuplicateKeys(json)) {
    throw invalid("the JWK must be one JSON object without repeated members");
  }
  for (const member of PRIVATE_MEMBERS) {
    if (Object.hasOwn(jwk, member)) throw invalid("the JWK holds private key material");
  }
  try {
    return createPublicKey({ key: jwk as JsonWebKey, format: "jwk" });
  } catch {
    throw invalid("the JWK is not a valid public key");
  }
}

function algorithmOf(key: KeyObject): AgentKeyAlg {
  if (key.type !== "public") throw invalid("not a public key");
  if (key.asymmetricKeyType === "ed25519") return "EdDSA";
  // "rsa-pss" keys are restricted to PSS and cannot verify RS256, so only plain "rsa".
  if (key.asymmetricKeyType === "rsa") {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw new TesseraError("PUBLIC_KEY_WEAK", "RSA keys need at least 2048 bits");
    if (bits > MAX_RSA_BITS) throw invalid("RSA keys may have at most 8192 bits");
    return "RS256";
  }
  throw invalid("only Ed25519 and RSA public keys are accepted");
}

/** RFC 7638: SHA-256 of the required members in lexicographic order, no whitespace. */
function thumbprint(jwk: JsonWebKey): string {
  const required =
    jwk.kty === "OKP" ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash("sha256").update(JSON.stringify(required)).digest("base64url");
}
