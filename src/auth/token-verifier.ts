import { hash } from "node:crypto";
import { decodeProtectedHeader, errors, jwtVerify } from "jose";
import { TesseraError } from "../domain/errors.js";
import { LIMITS } from "../domain/limits.js";
import { epochSeconds } from "../domain/time.js";
import type { KeyRing } from "./key-ring.js";
import { hasDuplicateKeys } from "./strict-json.js";
import { ACCESS_TOKEN_TYP, type AccessClaims, asAccessClaims } from "./token-claims.js";

/** Tokens larger than this are refused before any parsing (and never minted). */
export const MAX_TOKEN_BYTES = LIMITS.tokenBytes;
/**
 * What a cached entry costs besides its token's length: the digest key, the map entry and the
 * claims object. Measured: about 300 bytes plus 0.6 bytes per token character of heap, so
 * counting the whole token length on top over-counts, which is the safe side.
 */
const ENTRY_OVERHEAD_BYTES = 512;
const ALLOWED_HEADER = new Set(["alg", "kid", "typ"]);

export interface VerifierOptions {
  readonly issuer: string;
  readonly audience: string;
  /** Seconds of clock skew tolerated on exp/nbf/iat. */
  readonly clockToleranceSeconds: number;
  readonly now: () => Date;
  /** Refuses verified tokens that were revoked or whose subject was suspended (runs on every use). */
  readonly check?: ((claims: AccessClaims) => void) | undefined;
  /** Estimated bytes the cache may hold (default LIMITS.tokenCacheBytes). */
  readonly cacheMaxBytes?: number | undefined;
}

/** A verified token's claims with the estimated bytes it holds in the cache. */
interface CacheEntry {
  readonly claims: AccessClaims;
  readonly bytes: number;
}

function invalid(message: string): TesseraError {
  return new TesseraError("TOKEN_INVALID", message);
}

const B64URL = /^[A-Za-z0-9_-]*$/;

/**
 * One token, one meaning: three canonical base64url segments (no spare bits set, so a
 * signature cannot be altered without being refused), and no key twice in the header or
 * the claims.
 */
function assertStrictEncoding(token: string): void {
  const parts = token.split(".");
  if (parts.length !== 3)
    throw new TesseraError("TOKEN_MALFORMED", "a token has three dot-separated segments");
  for (const part of parts) {
    if (!B64URL.test(part) || Buffer.from(part, "base64url").toString("base64url") !== part) {
      throw new TesseraError("TOKEN_MALFORMED", "the token is not canonical base64url");
    }
  }
  for (const part of parts.slice(0, 2)) {
    const json = Buffer.from(part, "base64url").toString("utf8");
    try {
      JSON.parse(json);
    } catch {
      throw new TesseraError("TOKEN_MALFORMED", "the token's header or claims are not JSON");
    }
    if (hasDuplicateKeys(json)) throw invalid("the token's header or claims repeat a key");
  }
}

function checkSize(token: string): void {
  if (token.length === 0) throw new TesseraError("TOKEN_MALFORMED", "the token is empty");
  // Characters never outnumber UTF-8 bytes, so the cheap test goes first.
  if (token.length > MAX_TOKEN_BYTES || Buffer.byteLength(token, "utf8") > MAX_TOKEN_BYTES) {
    throw new TesseraError("TOKEN_TOO_LARGE", "the token exceeds 8 KiB");
  }
}

/** The cache key: a one-shot SHA-256 (cheaper than a Hash object per call). */
function tokenDigest(token: string): string {
  return hash("sha256", token, "base64url");
}

/**
 * Verifies Tessera access tokens. A verified token is cached by its SHA-256 digest until it
 * expires, so a repeat costs a hash and a map lookup instead of a signature check. The cache is
 * bounded by entries and by estimated bytes (large tokens would otherwise let a caller fill
 * memory with few entries); the oldest entries are evicted first.
 */
export class TokenVerifier {
  private readonly cache = new Map<string, CacheEntry>();
  private cachedBytes = 0;
  private readonly maxBytes: number;
  /** Cache lookups that found the token, and that did not (plain integers: read at scrape time). */
  private readonly counts = { hits: 0, misses: 0 };

  constructor(
    private readonly keys: KeyRing,
    private readonly opts: VerifierOptions,
  ) {
    this.maxBytes = opts.cacheMaxBytes ?? LIMITS.tokenCacheBytes;
  }

  /** The cache's size now: entries and estimated bytes, and its byte bound. */
  cacheStats(): { entries: number; bytes: number; maxBytes: number } {
    return { entries: this.cache.size, bytes: this.cachedBytes, maxBytes: this.maxBytes };
  }

  /** Cache hits and misses since start (metrics read them; the hot path only increments). */
  stats(): { readonly hits: number; readonly misses: number } {
    return { ...this.counts };
  }

  /** The token's claims, or a TesseraError with an UNAUTHENTICATED reason. */
  async verify(token: string): Promise<AccessClaims> {
    checkSize(token);
    const digest = tokenDigest(token);
    return this.fromCache(digest) ?? this.verifyAndCache(token, digest);
  }

  /**
   * The claims of a token verified before, at once (no promise: the Authorize hot path uses
   * this); undefined when the token is not in the cache. Expired, revoked or suspended tokens
   * are refused here as in `verify`.
   */
  verifyNow(token: string): AccessClaims | undefined {
    checkSize(token);
    return this.fromCache(tokenDigest(token));
  }

  private fromCache(digest: string): AccessClaims | undefined {
    const cached = this.cache.get(digest);
    if (!cached) {
      this.counts.misses++;
      return undefined;
    }
    this.counts.hits++;
    const claims = cached.claims;
    if (claims.exp <= epochSeconds(this.opts.now()) - this.opts.clockToleranceSeconds) {
      this.evict(digest, cached);
      throw new TesseraError("TOKEN_EXPIRED", "the token has expired");
    }
    this.opts.check?.(claims);
    return claims;
  }

  private evict(digest: string, entry: CacheEntry): void {
    this.cache.delete(digest);
    this.cachedBytes -= entry.bytes;
  }

  private async verifyAndCache(token: string, digest: string): Promise<AccessClaims> {
    const claims = await this.verifyFresh(token, epochSeconds(this.opts.now()));
    const bytes = ENTRY_OVERHEAD_BYTES + token.length;
    // A concurrent verify of the same token may have cached it while this one awaited.
    const previous = this.cache.get(digest);
    if (previous) this.evict(digest, previous);
    if (bytes <= this.maxBytes) this.remember(digest, claims, bytes);
    this.opts.check?.(claims);
    return claims;
  }

  /** Caches a verified token, evicting the oldest entries until it fits both bounds. */
  private remember(digest: string, claims: AccessClaims, bytes: number): void {
    while (
      this.cache.size > 0 &&
      (this.cache.size >= LIMITS.tokenCacheEntries || this.cachedBytes + bytes > this.maxBytes)
    ) {
      const [oldest, entry] = this.cache.entries().next().value as [string, CacheEntry];
      this.evict(oldest, entry);
    }
    this.cache.set(digest, { claims, bytes });
    this.cachedBytes += bytes;
  }

  private async verifyFresh(token: string, nowSec: number): Promise<AccessClaims> {
    assertStrictEncoding(token);
    let header: Record<string, unknown>;
    try {
      header = decodeProtectedHeader(token) as Record<string, unknown>;
    } catch {
      throw new TesseraError("TOKEN_MALFORMED", "the token is not a compact JWS");
    }
    // jku/x5u/jwk/crit and friends are refused outright: keys come only from our ring.
    for (const name of Object.keys(header)) {
      if (!ALLOWED_HEADER.has(name)) throw invalid(`header parameter "${name}" is not accepted`);
    }
    const key = typeof header.kid === "string" ? this.keys.find(header.kid) : undefined;
    if (!key) throw new TesseraError("TOKEN_KEY_UNKNOWN", "the token's key is not known");
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, key.key, {
        algorithms: [key.alg],
        issuer: this.opts.issuer,
        audience: this.opts.audience,
        typ: ACCESS_TOKEN_TYP,
        currentDate: this.opts.now(),
        clockTolerance: this.opts.clockToleranceSeconds,
        requiredClaims: ["exp", "iat", "nbf", "jti", "sub"],
      }));
    } catch (err) {
      // jose throws its own errors and, on some key mismatches, plain TypeErrors: all are refusals.
      if (err instanceof errors.JWTExpired) throw new TesseraError("TOKEN_EXPIRED", "the token has expired");
      throw invalid("the token failed verification");
    }
    const claims = asAccessClaims(payload);
    if (!claims) throw invalid("the token's claims have the wrong shape");
    if (claims.iat > nowSec + this.opts.clockToleranceSeconds)
      throw invalid("the token was issued in the future");
    return claims;
  }
}
