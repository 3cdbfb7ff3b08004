import { hash, randomBytes, timingSafeEqual } from "node:crypto";
import { crc32 } from "node:zlib";

/**
 * Tessera's secrets carry a type prefix and a CRC32 checksum (`tsk_<40 base62><6 base62>`),
 * so secret scanners can find leaked ones and typos are rejected before any lookup.
 */
export const SECRET_PREFIXES = {
  apiKey: "tsk_",
  adminToken: "tat_",
  agentSecret: "tas_",
  refreshToken: "trt_",
  /** The server operator's credential (SystemService), distinct from every org's. */
  operatorToken: "tso_",
} as const;
export type SecretType = keyof typeof SECRET_PREFIXES;

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BODY_LENGTH = 40; // ≈ 238 bits of entropy
const CHECK_LENGTH = 6;
const SHAPE = /^[a-z]{3}_[0-9A-Za-z]{46}$/;

function base62(bytes: Uint8Array, length: number): string {
  let out = "";
  // Rejection sampling keeps every character uniform (no modulo bias).
  for (const b of bytes) {
    if (b < 248) out += ALPHABET[b % 62];
    if (out.length === length) return out;
  }
  return out + base62(randomBytes(length), length - out.length);
}

function checksum(text: string): string {
  let n = crc32(text);
  let out = "";
  for (let i = 0; i < CHECK_LENGTH; i++) {
    out = ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

/** A new random secret of the given type. */
export function generateSecret(type: SecretType): string {
  const head = SECRET_PREFIXES[type] + base62(randomBytes(BODY_LENGTH * 2), BODY_LENGTH);
  return head + checksum(head);
}

/** True when `value` has the type's prefix, the right shape and a valid checksum. */
export function isWellFormedSecret(type: SecretType, value: string): boolean {
  if (!value.startsWith(SECRET_PREFIXES[type]) || !SHAPE.test(value)) return false;
  const head = value.slice(0, -CHECK_LENGTH);
  return checksum(head) === value.slice(-CHECK_LENGTH);
}

/** The SHA-256 digest under which a secret is stored. */
export function secretDigest(value: string): Buffer {
  return hash("sha256", value, "buffer");
}

/** The same digest as base64 text, for in-memory lookups (one call, no Hash object). */
export function secretDigestText(value: string): string {
  return hash("sha256", value, "base64");
}

/** Constant-time digest comparison. */
export function digestsEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A random identifier with a type prefix, e.g. `agt_…`. Not a secret. */
export function newId(prefix: string): string {
  return `${prefix}_${base62(randomBytes(32), 20)}`;
}
