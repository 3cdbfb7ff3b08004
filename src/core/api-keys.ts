import type { OrgCredentials } from "../auth/org-credentials.js";
import { generateSecret, newId, secretDigest } from "../auth/secrets.js";
import { TesseraError } from "../domain/errors.js";
import { LIMITS } from "../domain/limits.js";
import { isScopePattern } from "../domain/scopes.js";
import { epochSeconds } from "../domain/time.js";
import type { RateLimit } from "../domain/token-bucket.js";
import type { Async } from "../store/contract/async.js";
import type { CredentialRow, OrgRepository } from "../store/orgs.js";

/** The highest rate (and burst) a key may be given: past it, a limit limits nothing. */
const MAX_RATE = 1_000_000;

function checkRateLimit(l: RateLimit): void {
  const ok = (n: number) => Number.isInteger(n) && n >= 1 && n <= MAX_RATE;
  if (!ok(l.rps) || !ok(l.burst))
    throw new TesseraError(
      "RATE_LIMIT_INVALID",
      "a rate limit is a whole number of requests per second and a burst, each 1 to 1000000",
    );
}

const MAX_GRACE = 30 * 86400;
const DEFAULT_GRACE = 86400;
const NAME = /^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,63}$/;

export interface ApiKeyDeps {
  readonly orgs: Async<OrgRepository>;
  readonly credentials: OrgCredentials;
  readonly now: () => Date;
}

/** A new secret and its description; the secret is shown this once. */
export interface IssuedKey {
  readonly secret: string;
  readonly key: CredentialRow;
}

/** Scoped API keys for automation, and rotation of the org's own credentials. */
export class ApiKeyService {
  constructor(private readonly d: ApiKeyDeps) {}

  private nowSec(): number {
    return epochSeconds(this.d.now());
  }

  private newKey(
    orgId: string,
    name: string,
    scopes: readonly string[],
    expiresAt: number | undefined,
    rateLimit?: RateLimit,
  ): IssuedKey {
    const secret = generateSecret("apiKey");
    const key: CredentialRow = {
      id: newId("key"),
      orgId,
      kind: "api_key",
      digest: secretDigest(secret),
      name,
      scopes,
      prefix: secret.slice(0, 8),
      expiresAt,
      createdAt: this.nowSec(),
      rateLimit,
    };
    return { secret, key };
  }

  async create(
    orgId: string,
    name: string,
    scopes: readonly string[],
    expiresAt: number | undefined,
    rateLimit?: RateLimit,
  ): Promise<IssuedKey> {
    if (!NAME.test(name))
      throw new TesseraError("NAME_MISSING", "a key needs a name of 1-64 letters, digits, spaces or _.:-");
    if (scopes.length === 0 || scopes.length > LIMITS.listItems)
      throw new TesseraError("SCOPE_INVALID", "a key needs 1 to 64 scopes");
    for (const s of scopes) {
      if (s !== "admin" && !isScopePattern(s))
        throw new TesseraError("SCOPE_INVALID", "each scope is `admin` or looks like domain:verb");
    }
    if (expiresAt !== undefined && expiresAt <= this.nowSec())
      throw new TesseraError("EXPIRY_INVALID", "expires_at must be in the future");
    if (rateLimit) checkRateLimit(rateLimit);
    const issued = this.newKey(orgId, name, scopes, expiresAt, rateLimit);
    await this.d.orgs.addScopedKey(issued.key, this.nowSec());
    // In force here before the answer; elsewhere once the change arrives.
    await this.d.credentials.reload();
    return issued;
  }

  async list(orgId: string): Promise<CredentialRow[]> {
    return this.d.orgs.scopedKeys(orgId);
  }

  /** The org's live primary API key and admin token (never their secrets). */
  async orgCredentials(orgId: string): Promise<CredentialRow[]> {
    return this.d.orgs.primaryCredentials(orgId);
  }

  async revoke(orgId: string, id: string): Promise<void> {
    if (!(await this.d.orgs.revokeKey(orgId, id, this.nowSec())))
      throw new TesseraError("API_KEY_NOT_FOUND", "no such live API key in this org");
    await this.d.credentials.reload();
  }

  /** A replacement with the same name, scopes and expiry; the old key works until the grace period ends. */
  async rotate(orgId: string, id: string, graceSeconds: number | undefined): Promise<IssuedKey> {
    const old = await this.d.orgs.scopedKey(orgId, id);
    if (!old || old.revokedAt !== undefined)
      throw new TesseraError("API_KEY_NOT_FOUND", "no such live API key in this org");
    const grace = graceSeconds ?? DEFAULT_GRACE;
    if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE)
      throw new TesseraError("GRACE_INVALID", "grace must be between 0 and 30 days");
    // The replacement keeps the old key's rate limit (its own bucket: a fresh burst).
    const issued = this.newKey(orgId, old.name ?? "", old.scopes ?? [], old.expiresAt, old.rateLimit);
    const now = this.nowSec();
    await this.d.orgs.rotateKey(
      orgId,
      id,
      issued.key,
      Math.min(now + grace, old.graceUntil ?? Number.MAX_SAFE_INTEGER),
      now,
    );
    await this.d.credentials.reload();
    return issued;
  }

  /**
   * Sets an API key's own rate limit (the org's primary key or a scoped one), or with undefined
   * clears it so the key takes the org default again. Every worker rereads it at once.
   */
  async setRateLimit(orgId: string, id: string, limit: RateLimit | undefined): Promise<void> {
    if (limit) checkRateLimit(limit);
    if (!(await this.d.orgs.setKeyRateLimit(orgId, id, limit)))
      throw new TesseraError("API_KEY_NOT_FOUND", "no such live API key in this org");
    await this.d.credentials.reload();
  }

  /** New primary API key and admin token; the old ones stop working at once. */
  async rotateOrgCredentials(orgId: string): Promise<{ apiKey: string; adminToken: string }> {
    const apiKey = generateSecret("apiKey");
    const adminToken = generateSecret("adminToken");
    await this.d.orgs.replacePrimary(
      orgId,
      [
        { id: newId("key"), kind: "api_key", digest: secretDigest(apiKey), prefix: apiKey.slice(0, 8) },
        {
          id: newId("key"),
          kind: "admin_token",
          digest: secretDigest(adminToken),
          prefix: adminToken.slice(0, 8),
        },
      ],
      this.nowSec(),
    );
    await this.d.credentials.reload();
    return { apiKey, adminToken };
  }
}
