import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import type { SigningKeyRow } from "../store/signing-keys.js";

/*
 * Signing key material at rest: generated keys are sealed with the master key (AES-256-GCM)
 * before they reach the store, and opened (and checked) when they are loaded.
 */

/** Stored private keys that start with this are sealed with the master key. */
export const SEALED_PREFIX = "enc:v1:";

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/** Why a stored private key could not be opened. */
export type MasterKeyProblem =
  /** The key is sealed but no master key is configured. */
  | "MASTER_KEY_MISSING"
  /** The master key is not 32 bytes. */
  | "MASTER_KEY_INVALID"
  /** Authentication failed: the wrong master key, or the stored value was altered. */
  | "KEY_UNDECRYPTABLE"
  /** The stored value is not a sealed key of a known format, or not a private JWK. */
  | "KEY_MALFORMED";

/**
 * A signing key that cannot be used at start. It names the kid and the problem, never any
 * key material, so it is safe to log; the server refuses to start rather than fail later.
 */
export class MasterKeyError extends Error {
  override readonly name = "MasterKeyError";

  constructor(
    readonly problem: MasterKeyProblem,
    readonly kid: string,
    message: string,
  ) {
    super(`signing key ${kid}: ${message}`);
  }
}

/** True when a stored private key is sealed (rather than a development key stored in clear). */
export function isSealed(stored: string): boolean {
  return stored.startsWith(SEALED_PREFIX);
}

function checkMasterKey(masterKey: Buffer, kid: string): void {
  if (masterKey.length !== KEY_BYTES) {
    throw new MasterKeyError("MASTER_KEY_INVALID", kid, "the master key must be 32 bytes");
  }
}

/**
 * The kid is bound in as associated data, so a sealed key copied onto another row (swapping
 * which key signs under which kid) fails authentication instead of loading.
 */
function aad(kid: string): Buffer {
  return Buffer.from(`tessera signing key ${kid}`, "utf8");
}

/**
 * Seals a private JWK (its JSON text) with AES-256-GCM under the master key and a fresh random
 * IV: `enc:v1:<iv>:<tag>:<ciphertext>`, each base64url. Without a master key the JSON is
 * returned as it is (development only; production refuses to start without one).
 */
export function sealPrivateJwk(json: string, masterKey: Buffer | undefined, kid: string): string {
  if (!masterKey) return json;
  checkMasterKey(masterKey, kid);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", masterKey, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(kid));
  const ciphertext = Buffer.concat([cipher.update(json, "utf8"), cipher.final()]);
  const parts = [iv, cipher.getAuthTag(), ciphertext].map((b) => b.toString("base64url"));
  return `${SEALED_PREFIX}${parts.join(":")}`;
}

/**
 * The private JWK JSON of a stored key: opened with the master key when sealed, as stored when
 * in clear. Throws a MasterKeyError (naming the kid) when a sealed key cannot be opened.
 */
export function openPrivateJwk(stored: string, masterKey: Buffer | undefined, kid: string): string {
  if (!isSealed(stored)) return stored;
  if (!masterKey) {
    throw new MasterKeyError(
      "MASTER_KEY_MISSING",
      kid,
      "the private key is encrypted but no master key is configured",
    );
  }
  checkMasterKey(masterKey, kid);
  const parts = stored.slice(SEALED_PREFIX.length).split(":");
  const [iv, tag, ciphertext] = parts.map((p) => Buffer.from(p, "base64url"));
  if (parts.length !== 3 || iv?.length !== IV_BYTES || tag?.length !== TAG_BYTES || !ciphertext) {
    throw new MasterKeyError("KEY_MALFORMED", kid, "the encrypted private key is not in the enc:v1 format");
  }
  try {
    const decipher = createDecipheriv("aes-256-gcm", masterKey, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(kid));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString("utf8");
  } catch {
    // Deliberately not chained: the cause adds nothing and must never carry key material.
    throw new MasterKeyError(
      "KEY_UNDECRYPTABLE",
      kid,
      "the private key cannot be decrypted (wrong master key, or the stored value was altered)",
    );
  }
}

/**
 * A new key pair as a store row: kid the RFC 7638 thumbprint, the published JWK with kid, alg
 * and use, the private JWK sealed with the master key when one is configured.
 */
export async function generateSigningKey(
  alg: "EdDSA" | "ES256",
  masterKey: Buffer | undefined,
  state: "next" | "active",
  createdAt: number,
): Promise<SigningKeyRow> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = sealPrivateJwk(JSON.stringify(await exportJWK(privateKey)), masterKey, kid);
  const published: JWK = { ...publicJwk, kid, alg, use: "sig" };
  return { kid, alg, publicJwk: JSON.stringify(published), privateJwk, state, createdAt };
}

/**
 * Opens and imports a stored private key, checking it is the private half of its published
 * key (a row edited by hand must not sign under another key's kid). Throws a MasterKeyError.
 */
export async function openSigningKey(row: SigningKeyRow, publicJwk: JWK, masterKey: Buffer | undefined) {
  const json = openPrivateJwk(row.privateJwk, masterKey, row.kid);
  const bad = () =>
    new MasterKeyError("KEY_MALFORMED", row.kid, "the private key does not match its public key");
  let jwk: JWK;
  try {
    jwk = JSON.parse(json) as JWK;
  } catch {
    throw bad();
  }
  if (typeof jwk.d !== "string" || jwk.x !== publicJwk.x || jwk.y !== publicJwk.y) throw bad();
  return importJWK(jwk, row.alg).catch(() => Promise.reject(bad()));
}
