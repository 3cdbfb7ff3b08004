import type { OrgTrust } from "../auth/org-trust.js";
import { TesseraError } from "../domain/errors.js";
import { epochSeconds } from "../domain/time.js";
import type { Async } from "../store/contract/async.js";
import type { OrgTrustRepository, TrustRow } from "../store/org-trust.js";
import type { AdminCaller } from "./access.js";

export interface TrustAdminDeps {
  readonly repo: Async<OrgTrustRepository>;
  readonly trust: OrgTrust;
  readonly now: () => Date;
}

function requireOther(caller: AdminCaller, orgId: string): void {
  if (!orgId) throw new TesseraError("ORG_MISSING", "name the org to trust by its id (org_id)");
  if (orgId === caller.orgId)
    throw new TesseraError("TRUST_OWN_ORG", "an org's own tokens need no trust: name another org");
}

/**
 * An org admin's trust in other orgs: a trusted org's tokens may be presented by the org's
 * callers to Authorize and are decided under the org's own policies. One direction only, and
 * only ever for the caller's own org. Every change reaches this process at once and every
 * other through the change log.
 */
export class TrustAdmin {
  constructor(private readonly d: TrustAdminDeps) {}

  /**
   * Trusts `orgId`; trusting it again changes nothing. The org must exist (NOT_FOUND
   * ORG_NOT_FOUND otherwise): org ids are random and server-made, so this only confirms an id
   * the caller already holds (any token of that org carries it) and cannot be used to
   * enumerate orgs; and a trust in no org would be a typo that silently admits nothing.
   */
  async trust(caller: AdminCaller, orgId: string): Promise<TrustRow> {
    requireOther(caller, orgId);
    const row = await this.d.repo.insert({
      orgId: caller.orgId,
      trustedOrgId: orgId,
      createdAt: epochSeconds(this.d.now()),
      actor: caller.actor,
    });
    if (!row) throw new TesseraError("ORG_NOT_FOUND", "no such org");
    await this.d.trust.reload();
    return row;
  }

  /** Ends the trust in `orgId`: its tokens are refused again (TOKEN_ORG_MISMATCH), on every worker. */
  async untrust(caller: AdminCaller, orgId: string): Promise<void> {
    requireOther(caller, orgId);
    if (!(await this.d.repo.delete(caller.orgId, orgId)))
      throw new TesseraError("TRUST_NOT_FOUND", "this org does not trust that org");
    await this.d.trust.reload();
  }

  /** The orgs the caller's org trusts. */
  async list(orgId: string): Promise<TrustRow[]> {
    return this.d.repo.trustedBy(orgId);
  }
}
