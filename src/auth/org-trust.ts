import type { Async } from "../store/contract/async.js";
import type { OrgTrustRepository } from "../store/org-trust.js";

const NONE: ReadonlySet<string> = new Set();

/**
 * Which orgs each org trusts, held in memory so that Authorize with another org's token asks
 * a map, never the database. Reloaded whole after a trust changes here or (through the change
 * log) in any other process.
 */
export class OrgTrust {
  private trusted: ReadonlyMap<string, ReadonlySet<string>> = new Map();

  private constructor(private readonly repo: Async<OrgTrustRepository>) {}

  static async open(repo: Async<OrgTrustRepository>): Promise<OrgTrust> {
    const t = new OrgTrust(repo);
    await t.reload();
    return t;
  }

  /** Re-reads every trust and swaps the map in at once. */
  async reload(): Promise<void> {
    const next = new Map<string, Set<string>>();
    for (const t of await this.repo.all()) {
      const set = next.get(t.orgId) ?? new Set<string>();
      set.add(t.trustedOrgId);
      next.set(t.orgId, set);
    }
    this.trusted = next;
  }

  /**
   * Re-reads the trusts (a few rows) and says whether the copy had drifted from the store: a
   * change the change log no longer holds, or a bug. The periodic check of every process.
   */
  async verify(): Promise<boolean> {
    const before = this.trusted;
    await this.reload();
    return !sameSets(before, this.trusted);
  }

  /** True when `orgId` has trusted `other` (one direction: never because `other` trusts `orgId`). */
  trusts(orgId: string, other: string): boolean {
    return (this.trusted.get(orgId) ?? NONE).has(other);
  }
}

function sameSets(
  a: ReadonlyMap<string, ReadonlySet<string>>,
  b: ReadonlyMap<string, ReadonlySet<string>>,
): boolean {
  if (a.size !== b.size) return false;
  for (const [org, set] of a) {
    const other = b.get(org);
    if (!other || other.size !== set.size) return false;
    for (const t of set) if (!other.has(t)) return false;
  }
  return true;
}
