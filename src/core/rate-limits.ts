import { TesseraError } from "../domain/errors.js";
import { type RateLimit, TokenBucket } from "../domain/token-bucket.js";
import type { Caller } from "./access.js";
import type { CoreSettings } from "./settings.js";

/**
 * The limits an operator sets for every org (config), and those set on single API keys. A
 * credential's own limit wins over its org's default for its kind; the org limit caps the sum of
 * all its credentials.
 */
export interface RateLimitDefaults {
  /** Each API key (and each mTLS identity or user session: any credential but an agent's). */
  readonly perKey?: RateLimit | undefined;
  /** Each agent (its tokens and credential). */
  readonly perAgent?: RateLimit | undefined;
  /** Everything an org's credentials send, together. */
  readonly perOrg?: RateLimit | undefined;
}

/** A rate from settings: 0 requests per second is none; a burst of 0 is the rate itself. */
function limitOf(rps: number | undefined, burst: number | undefined): RateLimit | undefined {
  return rps ? { rps, burst: burst || rps } : undefined;
}

/** The org defaults the server's settings give. */
export function rateLimitDefaults(s: CoreSettings): RateLimitDefaults {
  return {
    perKey: limitOf(s.rateLimitKeyRps, s.rateLimitKeyBurst),
    perAgent: limitOf(s.rateLimitAgentRps, s.rateLimitAgentBurst),
    perOrg: limitOf(s.rateLimitOrgRps, s.rateLimitOrgBurst),
  };
}

/** One charge: the buckets a call takes a token from, all or none. */
export interface Charge {
  /** Names the lease (the credential): a worker keeps unspent leased tokens per credential. */
  readonly key: string;
  readonly buckets: readonly { readonly id: string; readonly limit: RateLimit }[];
}

/** How many calls a source let through: `granted` tokens, or a wait when none. */
export interface Grant {
  readonly granted: number;
  readonly retryAfterSeconds: number;
}

/**
 * The buckets themselves: takes up to `want` tokens from every bucket of a charge, all or none.
 * The primary of a cluster holds one for all workers; a single process holds its own.
 */
export class QuotaBuckets {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(private readonly now: () => number = Date.now) {}

  take(charge: Charge, want: number): Grant {
    const now = this.now();
    const buckets = charge.buckets.map(({ id, limit }) => {
      let b = this.buckets.get(id);
      if (!b) {
        b = new TokenBucket(limit, now);
        this.buckets.set(id, b);
      } else b.setLimit(limit);
      return b;
    });
    let n = want;
    const got: number[] = [];
    for (const b of buckets) {
      const g = b.take(now, n);
      got.push(g);
      n = Math.min(n, g);
    }
    // Every bucket gives the smallest grant: what the others took beyond it goes back.
    buckets.forEach((b, i) => {
      const extra = (got[i] ?? 0) - n;
      if (extra > 0) b.giveBack(extra);
    });
    if (n > 0) return { granted: n, retryAfterSeconds: 0 };
    return { granted: 0, retryAfterSeconds: Math.max(1, ...buckets.map((b) => b.retryAfterSeconds(now))) };
  }
}

/** Where a worker gets tokens for a charge it has none leased for (the cluster's primary). */
export type RemoteQuota = (charge: Charge, want: number) => Promise<Grant>;

/** The refusal of a call over its limit. */
export function rateLimited(retryAfterSeconds: number): TesseraError {
  return new TesseraError("RATE_LIMITED", "too many requests for this credential or org; retry later", {
    retry_after_seconds: String(retryAfterSeconds),
  });
}

/**
 * Per-credential and per-org rate limits, checked on every call once its credential is known
 * (`Caller.id` is the resolved credential, `api_key:ID`, `agent:ID`, …: never a raw header).
 *
 * Cost when nothing is limited: `active` is false and no call asks (the wrappers test it first);
 * when limits exist, a call pays a map lookup per limit that applies and a bucket's arithmetic.
 *
 * Across the workers of one server the buckets live in the primary: a worker leases a few tokens
 * at a time over IPC and spends them locally, asking again when its lease is spent. Splitting the
 * rate by the worker count instead was rejected: the kernel hands connections to workers
 * unevenly, and one client's calls all go to one worker, which would then get 1/N of its rate.
 * With leases nothing is ever admitted that the primary's buckets did not grant (the limit is
 * never exceeded), and what a worker holds unspent is at most `leaseSize` tokens per credential
 * (capped at 2% of a second's rate per worker), so the whole server stays within a few percent
 * of the configured rate. A low rate (below 50 rps) leases one token at a time: exact, at the
 * cost of an IPC round trip per limited call.
 */
export class RateLimits {
  private keyLimits = new Map<string, RateLimit>();
  private readonly local: QuotaBuckets;
  private remote: RemoteQuota | undefined;
  private workers = 1;
  /** Tokens leased from the primary and not yet spent, per credential. */
  private readonly leases = new Map<string, number>();
  /** Calls this process refused (metrics read it: the hot path only increments). */
  private refusals = 0;
  /** After the primary refused a credential: until when this worker refuses it without asking. */
  private readonly refusedUntil = new Map<string, { until: number; retryAfterSeconds: number }>();

  constructor(
    private readonly defaults: RateLimitDefaults,
    private readonly loadKeyLimits: () => Map<string, RateLimit>,
    private readonly now: () => number = Date.now,
  ) {
    this.local = new QuotaBuckets(now);
    this.reload();
  }

  /** True when any limit is set: otherwise callers skip the check entirely. */
  get active(): boolean {
    return (
      this.keyLimits.size > 0 ||
      this.defaults.perKey !== undefined ||
      this.defaults.perAgent !== undefined ||
      this.defaults.perOrg !== undefined
    );
  }

  /** Rereads the per-key limits (after any credential change, here or in another process). */
  reload(): void {
    this.keyLimits = this.loadKeyLimits();
  }

  /** In a cluster worker: take tokens from the primary, which holds the buckets for all `workers`. */
  useRemote(remote: RemoteQuota, workers: number): void {
    this.remote = remote;
    this.workers = Math.max(1, workers);
  }

  /** The limit a credential has: its own, or its org's default for its kind. */
  limitOf(caller: Caller): RateLimit | undefined {
    const own = this.keyLimits.get(caller.id);
    if (own) return own;
    return caller.id.startsWith("agent:") ? this.defaults.perAgent : this.defaults.perKey;
  }

  private chargeOf(caller: Caller): Charge | undefined {
    const own = this.limitOf(caller);
    const org = this.defaults.perOrg;
    if (!own && !org) return undefined;
    const buckets: Charge["buckets"][number][] = [];
    if (own) buckets.push({ id: caller.id, limit: own });
    if (org) buckets.push({ id: `org:${caller.orgId}`, limit: org });
    return { key: caller.id, buckets };
  }

  /**
   * Takes a token for a call by `caller`, or refuses it with RESOURCE_EXHAUSTED `RATE_LIMITED`
   * and a retry delay. Synchronous in a single process and whenever a lease has tokens left.
   */
  check(caller: Caller): undefined | Promise<void> {
    const charge = this.chargeOf(caller);
    if (!charge) return undefined;
    if (!this.remote) {
      const g = this.local.take(charge, 1);
      if (g.granted === 0) throw this.refuse(g.retryAfterSeconds);
      return undefined;
    }
    const leased = this.leases.get(charge.key) ?? 0;
    if (leased > 0) {
      this.leases.set(charge.key, leased - 1);
      return undefined;
    }
    // A caller over its limit is refused here for half a token's time (at most a second) before
    // the primary is asked again: the IPC a flood costs grows with the configured rate, never
    // with the flood. The other workers still ask, so tokens are not left unspent for long.
    const refused = this.refusedUntil.get(charge.key);
    if (refused) {
      if (this.now() < refused.until) throw this.refuse(refused.retryAfterSeconds);
      this.refusedUntil.delete(charge.key);
    }
    return this.remote(charge, this.leaseSize(charge)).then((g) => {
      if (g.granted === 0) {
        const minRps = Math.min(...charge.buckets.map((b) => b.limit.rps));
        const holdMs = Math.min(1000, 500 / minRps);
        this.refusedUntil.set(charge.key, {
          until: this.now() + holdMs,
          retryAfterSeconds: g.retryAfterSeconds,
        });
        throw this.refuse(g.retryAfterSeconds);
      }
      if (g.granted > 1) this.leases.set(charge.key, (this.leases.get(charge.key) ?? 0) + g.granted - 1);
    });
  }

  private refuse(retryAfterSeconds: number): TesseraError {
    this.refusals++;
    return rateLimited(retryAfterSeconds);
  }

  /** Refusals since start. */
  stats(): { readonly refusals: number } {
    return { refusals: this.refusals };
  }

  /** Tokens to lease at once: 2% of the smallest rate's second, shared by the workers; at least 1. */
  private leaseSize(charge: Charge): number {
    const rps = Math.min(...charge.buckets.map((b) => b.limit.rps));
    return Math.max(1, Math.floor((rps * 0.02) / this.workers));
  }
}
