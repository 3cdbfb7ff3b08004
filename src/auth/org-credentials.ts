import { TesseraError } from "../domain/errors.js";
import type { CredentialRow, OrgRepository } from "../store/orgs.js";

const MAX_CACHED = 100_000;

/** How each kind of org secret is named in refusals. */
const REASONS = {
  apiKey: { name: "API key", malformed: "API_KEY_MALFORMED", unknown: "API_KEY_UNKNOWN" },
  adminToken: { name: "admin token", malformed: "ADMIN_TOKEN_MALFORMED", unknown: "ADMIN_TOKEN_UNKNOWN" },
} as const;

import { epochSeconds } from "../domain/time.js";
import { digestsEqual, isWellFormedSecret, secretDigestText } from "./secrets.js";

/**
 * Resolves API keys and admin tokens to their org. Known credentials are cached in memory
 * by digest, so the per-request path does not touch the database; any credential change
 * (made here or seen in the change log) empties the cache.
 */
export class OrgCredentials {
  private readonly cache = new Map<string, CredentialRow>();
  /** Cache lookups that found the credential, and that did not (read at scrape time). */
  private readonly counts = { hits: 0, misses: 0 };

  constructor(
    private readonly orgs: OrgRepository,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Cache hits and misses since start (metrics read them; the hot path only increments). */
  stats(): { readonly hits: number; readonly misses: number } {
    return { ...this.counts };
  }
  private readonly listeners: (() => void)[] = [];

  /** Forgets every cached credential (after a rotation or revocation anywhere). */
  invalidate(): void {
    this.cache.clear();
    for (const l of this.listeners) l();
  }

  /** Told after every invalidation (what else derives from credentials rereads it: rate limits). */
  onInvalidate(listener: () => void): void {
    this.listeners.push(listener);
  }

  /**
   * The live credential of `kind` this secret is. Known secrets are found by digest first: a
   * cached one is well-formed by construction, so the shape and checksum tests (and the
   * database) are only for secrets not seen before. A malformed secret is refused before any
   * lookup; a stored digest is compared in constant time.
   */
  private lookup(type: "apiKey" | "adminToken", kind: CredentialRow["kind"], secret: string): CredentialRow {
    const key = secretDigestText(secret);
    const hit = this.cache.get(key);
    if (hit?.kind === kind) {
      this.counts.hits++;
      return hit;
    }
    this.counts.misses++;
    const what = REASONS[type];
    if (!isWellFormedSecret(type, secret))
      throw new TesseraError(what.malformed, `the ${what.name} is not well-formed`);
    const digest = Buffer.from(key, "base64");
    const row = this.orgs.findCredential(digest);
    if (row?.kind !== kind || !digestsEqual(row.digest, digest)) {
      throw new TesseraError(what.unknown, `the ${what.name} is not known`);
    }
    // Only hits are cached: an unknown key may be created at any moment.
    if (this.cache.size < MAX_CACHED) this.cache.set(key, row);
    return row;
  }

  /** The org an API key belongs to. Malformed keys are refused before any lookup. */
  orgOfApiKey(apiKey: string): string {
    return this.apiKey(apiKey).orgId;
  }

  /** The live API key (primary or scoped) this secret is; refused when unknown, revoked, expired or past its grace. */
  apiKey(apiKey: string): CredentialRow {
    const row = this.lookup("apiKey", "api_key", apiKey);
    const nowSec = epochSeconds(this.now());
    if (
      (row.expiresAt !== undefined && row.expiresAt <= nowSec) ||
      (row.graceUntil !== undefined && row.graceUntil <= nowSec)
    ) {
      throw new TesseraError("API_KEY_EXPIRED", "the API key has expired");
    }
    return row;
  }

  /**
   * Checks the admin pair: the API key says which org, the admin token proves authority
   * over it. Each way of getting this wrong has its own reason.
   */
  adminOrg(apiKey: string | undefined, adminToken: string | undefined): string {
    return this.adminPair(apiKey, adminToken).orgId;
  }

  /** `adminOrg`, also naming the pair's API key and admin token (their ids, never secrets). */
  adminPair(
    apiKey: string | undefined,
    adminToken: string | undefined,
  ): { orgId: string; keyId: string; tokenId: string } {
    if (!adminToken) {
      throw new TesseraError("ADMIN_TOKEN_MISSING", "this call needs an admin token (x-admin-token)");
    }
    if (!apiKey) {
      throw new TesseraError(
        "API_KEY_MISSING",
        "an admin token must come with its org's API key (x-api-key)",
      );
    }
    const key = this.apiKey(apiKey);
    const orgId = key.orgId;
    const row = this.lookup("adminToken", "admin_token", adminToken);
    if (row.orgId !== orgId) {
      throw new TesseraError(
        "ADMIN_TOKEN_ORG_MISMATCH",
        "the admin token does not belong to the API key's org",
      );
    }
    return { orgId, keyId: key.id, tokenId: row.id };
  }
}
