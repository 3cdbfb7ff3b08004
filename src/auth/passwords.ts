import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from "node:crypto";

/** scrypt work factors: N (CPU/memory cost, a power of two), r (block size), p (parallelism). */
export interface ScryptCost {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/**
 * What new hashes use: N = 2^17, r = 8, p = 1 (OWASP's scrypt minimum), 128 MiB per hash.
 * Raise it here; older hashes are upgraded at the next successful login.
 */
export const DEFAULT_SCRYPT_COST: ScryptCost = { N: 2 ** 17, r: 8, p: 1 };

const SALT_BYTES = 16;
const HASH_BYTES = 32;
// `scrypt$N=…,r=…,p=…$<salt b64>$<hash b64>`: the parameters travel with the hash so they can be raised later.
const FORMAT =
  /^scrypt\$N=(\d{1,8}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

interface ParsedHash {
  readonly cost: ScryptCost;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

function derive(password: string, salt: Buffer, cost: ScryptCost, length: number): Promise<Buffer> {
  // Node refuses anything above maxmem (32 MiB by default); scrypt needs 128·N·r bytes, so allow twice that.
  const options: ScryptOptions = { N: cost.N, r: cost.r, p: cost.p, maxmem: 256 * cost.N * cost.r };
  // NFKC (NIST SP 800-63B §5.1.1.2) so the same password typed on different systems matches.
  const input = password.normalize("NFKC");
  return new Promise((resolve, reject) => {
    scrypt(input, salt, length, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** The self-describing stored form of a hash. */
export function formatHash(cost: ScryptCost, salt: Buffer, hash: Buffer): string {
  return `scrypt$N=${cost.N},r=${cost.r},p=${cost.p}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

function parseHash(stored: string): ParsedHash {
  const m = FORMAT.exec(stored);
  const cost = m && { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  const salt = Buffer.from(m?.[4] ?? "", "base64");
  const hash = Buffer.from(m?.[5] ?? "", "base64");
  // Bounds keep a corrupted row from asking for gigabytes; the message never includes the row.
  const sane =
    cost !== null &&
    cost.N >= 2 &&
    cost.N <= 2 ** 20 &&
    (cost.N & (cost.N - 1)) === 0 &&
    cost.r >= 1 &&
    cost.r <= 32 &&
    cost.p >= 1 &&
    cost.p <= 16 &&
    salt.length > 0 &&
    hash.length >= 16 &&
    hash.length <= 64;
  if (!sane) throw new Error("stored password hash is malformed");
  return { cost, salt, hash };
}

/** Hashes a password with a fresh random salt. */
export async function hashPassword(
  password: string,
  cost: ScryptCost = DEFAULT_SCRYPT_COST,
): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  return formatHash(cost, salt, await derive(password, salt, cost, HASH_BYTES));
}

/**
 * True when `password` matches `stored`, using the parameters recorded in `stored`.
 * Throws (without secrets in the message) when `stored` is not a hash this module wrote.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const { cost, salt, hash } = parseHash(stored);
  const candidate = await derive(password, salt, cost, hash.length);
  return timingSafeEqual(candidate, hash);
}

/** True when `stored` was made with other parameters than `cost` (rehash it at the next login). */
export function needsRehash(stored: string, cost: ScryptCost): boolean {
  const p = parseHash(stored).cost;
  return p.N !== cost.N || p.r !== cost.r || p.p !== cost.p;
}

/**
 * A well-formed hash of no password (its "hash" is random bytes), for checking a login against
 * when the username is unknown so that costs the same scrypt run as a wrong password.
 */
export function dummyHash(cost: ScryptCost): string {
  return formatHash(cost, randomBytes(SALT_BYTES), randomBytes(HASH_BYTES));
}
