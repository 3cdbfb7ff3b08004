import type { PeerIdentity } from "../domain/principal.js";
import type { Async } from "../store/contract/async.js";
import type { ServiceIdentityRepository } from "../store/services.js";

/**
 * The mTLS identity → org bindings, held in memory so a call over mTLS finds its org with a
 * map lookup and no database read. One map per source: a CN is only ever looked up among CN
 * bindings. Reloaded whole after a binding changes here or (through the change log) anywhere.
 */
export class BoundIdentities {
  private spiffe: ReadonlyMap<string, string> = new Map();
  private cn: ReadonlyMap<string, string> = new Map();

  private constructor(private readonly repo: Async<ServiceIdentityRepository>) {}

  static async open(repo: Async<ServiceIdentityRepository>): Promise<BoundIdentities> {
    const b = new BoundIdentities(repo);
    await b.reload();
    return b;
  }

  /** Re-reads every binding and swaps both maps in at once. */
  async reload(): Promise<void> {
    const spiffe = new Map<string, string>();
    const cn = new Map<string, string>();
    for (const b of await this.repo.all()) (b.source === "spiffe" ? spiffe : cn).set(b.identity, b.orgId);
    this.spiffe = spiffe;
    this.cn = cn;
  }

  /** Re-reads the bindings and says whether the copy had drifted from the store (the periodic check). */
  async verify(): Promise<boolean> {
    const before = [this.spiffe, this.cn];
    await this.reload();
    return !sameMap(before[0], this.spiffe) || !sameMap(before[1], this.cn);
  }

  /** The org the identity is bound to, if any. */
  orgOf(peer: PeerIdentity): string | undefined {
    return (peer.source === "spiffe" ? this.spiffe : this.cn).get(peer.id);
  }
}

function sameMap(a: ReadonlyMap<string, string> | undefined, b: ReadonlyMap<string, string>): boolean {
  if (a === undefined || a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}
