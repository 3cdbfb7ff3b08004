import type { Async } from "../store/contract/async.js";
import type { CredentialUsageRepository, Usage, UsageDelta } from "../store/credential-usage.js";
import type { Caller } from "./access.js";
import type { CallContext } from "./context.js";

/** How often counted calls are written (one transaction per flush). */
const FLUSH_EVERY_MS = 5_000;
/** Sources remembered per credential (beyond, new ones are no longer told of). */
const MAX_SOURCES = 64;
/** Credentials whose sources are remembered (beyond, new credentials' sources are not told of). */
const MAX_TRACKED = 100_000;

/** A credential seen from a source it was not seen from before (in this process). */
export interface NewSource {
  readonly orgId: string;
  readonly credential: string;
  /** The caller's address (an mTLS identity where the transport knows no address). */
  readonly source: string;
  /** The caller's mTLS identity (`spiffe:…`, `dns:…`), when it presented one. */
  readonly identity?: string;
}

function peerName(ctx: CallContext): string | undefined {
  const p = ctx.peer();
  return p ? `${p.source}:${p.id}` : undefined;
}

/**
 * Counts each credential's calls in memory (a map update per call) and writes the counts in one
 * transaction every few seconds, off the answer path. A call's credential is counted once, however
 * often it is resolved. A credential used from a source not seen before is told of once.
 */
export class CredentialUsage {
  /** Calls counted since the last flush, by credential id (ids are unique across orgs). */
  private pending = new Map<string, { orgId: string; count: number }>();
  private readonly sources = new Map<string, Set<string>>();
  private timer: NodeJS.Timeout | undefined;
  private onNewSource: (e: NewSource) => void = () => {};

  constructor(
    private readonly repo: Async<CredentialUsageRepository>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Who is told of a credential used from a new source (the server logs it). */
  tellNewSources(listener: (e: NewSource) => void): void {
    this.onNewSource = listener;
  }

  /**
   * Counts one call by `caller` (at most once per call): a flag on the call and a map update.
   * The time of use is the flush's (a few seconds late at most), so no clock is read here.
   */
  used(caller: Caller, ctx: CallContext): void {
    if (ctx.usageCounted) return;
    ctx.usageCounted = true;
    this.count(caller.orgId, caller.id);
    this.noteSource(caller, ctx);
  }

  /**
   * Counts the admin token an admin call presents beside the org's API key (the key is the
   * call's credential, counted by `used`), at most once per call.
   */
  usedAdminToken(orgId: string, tokenId: string, ctx: CallContext): void {
    if (ctx.adminTokenCounted) return;
    ctx.adminTokenCounted = true;
    this.count(orgId, `admin_token:${tokenId}`);
  }

  /** Counts one use of a credential that is not the call's own (an agent's secret on Authenticate). */
  counted(orgId: string, credential: string): void {
    this.count(orgId, credential);
  }

  private count(orgId: string, id: string): void {
    // An id names one credential of one org; should an mTLS identity move to another org
    // between flushes, its calls are still told apart by org.
    const p = this.pending.get(id);
    if (p && p.orgId === orgId) p.count++;
    else if (!p) this.pending.set(id, { orgId, count: 1 });
    else {
      const key = `${orgId}\u0000${id}`;
      const q = this.pending.get(key);
      if (q) q.count++;
      else this.pending.set(key, { orgId, count: 1 });
    }
  }

  /**
   * Sources are told apart by the caller's address, a cheap string; the mTLS identity (reading
   * the peer certificate costs more) is looked at only to name a new source, or where the
   * transport knows no address.
   */
  private noteSource(caller: Caller, ctx: CallContext): void {
    const key = caller.id;
    const address = ctx.remote();
    const sourceKey = address ?? peerName(ctx);
    if (!sourceKey) return;
    let seen = this.sources.get(key);
    if (!seen) {
      if (this.sources.size >= MAX_TRACKED) return;
      seen = new Set();
      this.sources.set(key, seen);
    }
    if (seen.has(sourceKey) || seen.size >= MAX_SOURCES) return;
    seen.add(sourceKey);
    const peer = address === undefined ? undefined : peerName(ctx);
    this.onNewSource({
      orgId: caller.orgId,
      credential: caller.id,
      source: sourceKey,
      ...(peer ? { identity: peer } : {}),
    });
  }

  /** Writes what was counted since the last flush, as used now. */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const at = Math.floor(this.now() / 1000);
    const batch: UsageDelta[] = [];
    for (const [key, p] of this.pending) {
      const credential = key.slice(key.indexOf("\u0000") + 1);
      batch.push({ orgId: p.orgId, credential, count: p.count, lastUsedAt: at });
    }
    this.pending = new Map();
    await this.repo.add(batch);
  }

  /** Flushes every few seconds until `stop`; `stop` flushes what is left. */
  start(onError: (err: unknown) => void = () => {}): () => Promise<void> {
    const tick = () => this.flush().catch(onError);
    this.timer = setInterval(tick, FLUSH_EVERY_MS);
    this.timer.unref();
    return () => {
      clearInterval(this.timer);
      return tick();
    };
  }

  /** The org's credentials' usage as stored, plus what this process has not written yet (as of now). */
  async ofOrg(orgId: string): Promise<Map<string, Usage>> {
    const stored = await this.repo.ofOrg(orgId);
    const at = Math.floor(this.now() / 1000);
    for (const [key, p] of this.pending) {
      if (p.orgId !== orgId) continue;
      const credential = key.slice(key.indexOf("\u0000") + 1);
      const s = stored.get(credential);
      stored.set(credential, { count: (s?.count ?? 0) + p.count, lastUsedAt: at });
    }
    return stored;
  }
}
