import { TesseraError } from "../domain/errors.js";
import type { Async } from "../store/contract/async.js";
import type { CredentialRow, OrgRepository } from "../store/orgs.js";

/** How each kind of org secret is named in refusals. */
const REASONS = {
  apiKey: { name: "API key", malformed: "API_KEY_MALFORMED", unknown: "API_KEY_UNKNOWN" },
  adminToken: { name: "admin token", malformed: "ADMIN_TOKEN_MALFORMED", unknown: "ADMIN_TOKEN_UNKNOWN" },
} as const;

import { epochSeconds } from "../domain/time.js";
import { digestsEqual, isWellFormedSecret, secretDigestText } from "./secrets.js";

/**
 * Resolves API keys and admin tokens to their org from memory: every unrevoked credential is
 * held by digest (a projection of the store, a few hundred bytes each), so no call ever reads
 * the database for one, on either backend. Reloaded whole after a credential change here (the
 * writer awaits it) or seen in the change log; until then another process's new key is unknown
 * and its revoked key still works, for as long as the change takes to arrive.
 */
export class OrgCredentials {
  private byDigest = new Map<string, CredentialRow>();
  /** Lookups that found the credential, and that did not (read at scrape time). */
  private readonly counts = { hits: 0, misses: 0 };
  private readonly listeners: (() => void)[] = [];
  private loads = 0;

  private constructor(
    private readonly orgs: Async<OrgRepository>,
    private readonly now: () => Date,
    private readonly readThrough: boolean,
  ) {}

  /**
   * Loads every live credential. `readThrough`: on a miss, ask the store once more (only for a
   * store that answers at once, SQLite, where a credential another worker created a moment ago
   * is then found before its change arrives; a PostgreSQL replica never queries per call).
   */
  static async open(
    orgs: Async<OrgRepository>,
    now: () => Date = () => new Date(),
    opts: { readThrough?: boolean } = {},
  ): Promise<OrgCredentials> {
    const c = new OrgCredentials(orgs, now, opts.readThrough ?? false);
    await c.reload();
    return c;
  }

  /** Lookups that found a credential and that did not, since start (metrics read them). */
  stats(): { readonly hits: number; readonly misses: number } {
    return { ...this.counts };
  }

  /**
   * Re-reads every live credential and swaps them in at once (after a rotation or revocation
   * anywhere). Reloads may overlap: only the newest one lands.
   */
  async reload(): Promise<void> {
    const load = ++this.loads;
    const next = new Map<string, CredentialRow>();
    for (const row of await this.orgs.liveCredentials()) next.set(row.digest.toString("base64"), row);
    if (load !== this.loads) return;
    this.byDigest = next;
    for (const l of this.listeners) l();
  }

  /** Every live API key's own rate limit, by `api_key:ID` (what RateLimits keys its buckets by). */
  keyRateLimits(): Map<string, { rps: number; burst: number }> {
    const limits = new Map<string, { rps: number; burst: number }>();
    for (const row of this.byDigest.values())
      if (row.kind === "api_key" && row.rateLimit) limits.set(`api_key:${row.id}`, row.rateLimit);
    return limits;
  }

  /** Told after every reload (what else derives from credentials rereads it: rate limits). */
  onReload(listener: () => void): void {
    this.listeners.push(listener);
  }

  /**
   * The live credential of `kind` this secret is. A malformed secret is refused before any
   * lookup; the digest found is compared in constant time.
   */
  private lookup(type: "apiKey" | "adminToken", kind: CredentialRow["kind"], secret: string): CredentialRow {
    const key = secretDigestText(secret);
    const row = this.byDigest.get(key);
    const what = REASONS[type];
    if (row?.kind === kind && digestsEqual(row.digest, Buffer.from(key, "base64"))) {
      this.counts.hits++;
      return row;
    }
    this.counts.misses++;
    if (!isWellFormedSecret(type, secret))
      throw new TesseraError(what.malformed, `the ${what.name} is not well-formed`);
    if (this.readThrough) {
      const digest = Buffer.from(key, "base64");
      const found = this.orgs.findCredential(digest) as CredentialRow | undefined;
      if (found?.kind === kind && digestsEqual(found.digest, digest)) {
        this.byDigest.set(key, found);
        return found;
      }
    }
    throw new TesseraError(what.unknown, `the ${what.name} is not known`);
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
