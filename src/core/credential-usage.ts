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
  private pending = new Map<
    string,
    { orgId: string; credential: string; count: number; lastUsedAt: number }
  >();
  private readonly counted = new WeakSet<CallContext>();
  private readonly sources = new Map<string, Set<string>>();
  private timer: NodeJS.Timeout | undefined;
  private onNewSource: (e: NewSource) => void = () => {};

  constructor(
    private readonly repo: CredentialUsageRepository,
    private readonly now: () => number = Date.now,
  ) {}

  /** Who is told of a credential used from a new source (the server logs it). */
  tellNewSources(listener: (e: NewSource) => void): void {
    this.onNewSource = listener;
  }

  /** Counts one call by `caller` (at most once per call). */
  used(caller: Caller, ctx: CallContext): void {
    if (this.counted.has(ctx)) return;
    this.counted.add(ctx);
    const key = `${caller.orgId}\u0000${caller.id}`;
    const at = Math.floor(this.now() / 1000);
    const p = this.pending.get(key);
    if (p) {
      p.count++;
      p.lastUsedAt = at;
    } else this.pending.set(key, { orgId: caller.orgId, credential: caller.id, count: 1, lastUsedAt: at });
    this.noteSource(key, caller, ctx);
  }

  /**
   * Sources are told apart by the caller's address, a cheap string; the mTLS identity (reading
   * the peer certificate costs more) is looked at only to name a new source, or where the
   * transport knows no address.
   */
  private noteSource(key: string, caller: Caller, ctx: CallContext): void {
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

  /** Writes what was counted since the last flush. */
  flush(): void {
    if (this.pending.size === 0) return;
    const batch: UsageDelta[] = [...this.pending.values()];
    this.pending = new Map();
    this.repo.add(batch);
  }

  /** Flushes every few seconds until `stop`; `stop` flushes what is left. */
  start(onError: (err: unknown) => void = () => {}): () => void {
    const tick = () => {
      try {
        this.flush();
      } catch (err) {
        onError(err);
      }
    };
    this.timer = setInterval(tick, FLUSH_EVERY_MS);
    this.timer.unref();
    return () => {
      clearInterval(this.timer);
      tick();
    };
  }

  /** The org's credentials' usage as stored, plus what this process has not written yet. */
  ofOrg(orgId: string): Map<string, Usage> {
    const stored = this.repo.ofOrg(orgId);
    for (const p of this.pending.values()) {
      if (p.orgId !== orgId) continue;
      const s = stored.get(p.credential);
      stored.set(p.credential, {
        count: (s?.count ?? 0) + p.count,
        lastUsedAt: Math.max(s?.lastUsedAt ?? 0, p.lastUsedAt),
      });
    }
    return stored;
  }
}
