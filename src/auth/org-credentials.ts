import { TesseraError } from "../domain/errors.js";
import type { OrgRepository } from "../store/orgs.js";
import { digestsEqual, isWellFormedSecret, secretDigest } from "./secrets.js";

/** Resolves API keys and admin tokens to their org. */
export class OrgCredentials {
  constructor(private readonly orgs: OrgRepository) {}

  /** The org an API key belongs to. Malformed keys are refused before any lookup. */
  orgOfApiKey(apiKey: string): string {
    if (!isWellFormedSecret("apiKey", apiKey)) {
      throw new TesseraError("API_KEY_MALFORMED", "the API key is not a well-formed tsk_ key");
    }
    const digest = secretDigest(apiKey);
    const row = this.orgs.findCredential(digest);
    if (row?.kind !== "api_key" || !digestsEqual(row.digest, digest)) {
      throw new TesseraError("API_KEY_UNKNOWN", "the API key is not known");
    }
    return row.orgId;
  }

  /**
   * Checks the admin pair: the API key says which org, the admin token proves authority
   * over it. Each way of getting this wrong has its own reason.
   */
  adminOrg(apiKey: string | undefined, adminToken: string | undefined): string {
    if (!adminToken) {
      throw new TesseraError("ADMIN_TOKEN_MISSING", "this call needs an admin token (x-admin-token)");
    }
    if (!apiKey) {
      throw new TesseraError(
        "API_KEY_MISSING",
        "an admin token must come with its org's API key (x-api-key)",
      );
    }
    const orgId = this.orgOfApiKey(apiKey);
    if (!isWellFormedSecret("adminToken", adminToken)) {
      throw new TesseraError("ADMIN_TOKEN_MALFORMED", "the admin token is not a well-formed tat_ token");
    }
    const digest = secretDigest(adminToken);
    const row = this.orgs.findCredential(digest);
    if (row?.kind !== "admin_token" || !digestsEqual(row.digest, digest)) {
      throw new TesseraError("ADMIN_TOKEN_UNKNOWN", "the admin token is not known");
    }
    if (row.orgId !== orgId) {
      throw new TesseraError(
        "ADMIN_TOKEN_ORG_MISMATCH",
        "the admin token does not belong to the API key's org",
      );
    }
    return orgId;
  }
}
