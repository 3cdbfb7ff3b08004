/** A rate: requests per second, and how many may come at once after a quiet spell. */
export interface RateLimit {
  readonly rps: number;
  readonly burst: number;
}

/**
 * A token bucket: holds up to `burst` tokens, refilled at `rps` per second; each request takes
 * one. Pure arithmetic on the time it is given (milliseconds), so it is tested without clocks.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private limit: RateLimit,
    now: number,
  ) {
    this.tokens = limit.burst;
    this.at = now;
  }

  /** Adopts a changed limit, keeping the tokens it has (at most the new burst). */
  setLimit(limit: RateLimit): void {
    this.limit = limit;
    this.tokens = Math.min(this.tokens, limit.burst);
  }

  private refill(now: number): void {
    if (now > this.at) {
      this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.at) / 1000) * this.limit.rps);
      this.at = now;
    }
  }

  /** Takes up to `n` whole tokens; returns how many it took (0 when empty). */
  take(now: number, n = 1): number {
    this.refill(now);
    const got = Math.min(n, Math.floor(this.tokens));
    if (got > 0) this.tokens -= got;
    return got;
  }

  /** Gives back tokens taken but not used (never past the burst). */
  giveBack(n: number): void {
    this.tokens = Math.min(this.limit.burst, this.tokens + n);
  }

  /** Whole seconds until one token is there (at least 1, as Retry-After counts whole seconds). */
  retryAfterSeconds(now: number): number {
    this.refill(now);
    const missing = 1 - this.tokens;
    return missing <= 0 ? 0 : Math.max(1, Math.ceil(missing / this.limit.rps));
  }
}
