import { describe, expect, it } from "vitest";
import { type Charge, QuotaBuckets, RateLimits } from "../../src/core/rate-limits.js";
import { TesseraError } from "../../src/domain/errors.js";
import { TokenBucket } from "../../src/domain/token-bucket.js";

/** The reason a call refused, or "passed". */
function outcome(run: () => unknown): string {
  try {
    run();
    return "passed";
  } catch (err) {
    return err instanceof TesseraError ? err.reason : String(err);
  }
}

describe("TokenBucket", () => {
  it("holds a burst, refills at the rate, and says when to retry", () => {
    const b = new TokenBucket({ rps: 2, burst: 3 }, 0);
    expect(b.take(0, 5)).toBe(3);
    expect(b.take(0)).toBe(0);
    expect(b.retryAfterSeconds(0)).toBe(1);
    expect(b.take(499)).toBe(0);
    expect(b.take(500)).toBe(1);
    // Never past the burst, however long it rests.
    expect(b.take(60_000, 10)).toBe(3);
  });

  it("gives back what it took but did not use", () => {
    const b = new TokenBucket({ rps: 1, burst: 2 }, 0);
    expect(b.take(0, 2)).toBe(2);
    b.giveBack(1);
    expect(b.take(0, 2)).toBe(1);
  });
});

describe("QuotaBuckets", () => {
  it("takes from every bucket of a charge, all or none", () => {
    let now = 0;
    const q = new QuotaBuckets(() => now);
    const key = (id: string): Charge => ({
      key: id,
      buckets: [
        { id, limit: { rps: 10, burst: 5 } },
        { id: "org:o", limit: { rps: 1, burst: 3 } },
      ],
    });
    expect(q.take(key("a"), 2).granted).toBe(2);
    expect(q.take(key("b"), 5).granted).toBe(1);
    const refused = q.take(key("a"), 1);
    expect(refused).toEqual({ granted: 0, retryAfterSeconds: 1 });
    // The org refused: key a's own bucket kept its tokens (3 left of 5).
    now = 1000;
    expect(q.take({ key: "a", buckets: [{ id: "a", limit: { rps: 10, burst: 5 } }] }, 5).granted).toBe(5);
  });
});

describe("RateLimits", () => {
  const caller = (id: string, orgId = "org_a") => ({ id, orgId });

  it("is inactive with no limit anywhere, and then charges nothing", () => {
    const limits = new RateLimits({}, () => new Map());
    expect(limits.active).toBe(false);
    for (let i = 0; i < 100; i++) expect(outcome(() => limits.check(caller("api_key:k")))).toBe("passed");
  });

  it("applies a key's own limit over the per-key default, and the per-agent default to agents", () => {
    const now = 0;
    const limits = new RateLimits(
      { perKey: { rps: 1, burst: 3 }, perAgent: { rps: 1, burst: 1 } },
      () => new Map([["api_key:big", { rps: 1, burst: 5 }]]),
      () => now,
    );
    const passed = (id: string) =>
      Array.from({ length: 10 }, () => outcome(() => limits.check(caller(id)))).filter((o) => o === "passed")
        .length;
    expect(passed("api_key:small")).toBe(3);
    expect(passed("api_key:big")).toBe(5);
    expect(passed("agent:agt_1")).toBe(1);
    expect(outcome(() => limits.check(caller("agent:agt_1")))).toBe("RATE_LIMITED");
  });

  it("caps an org's credentials together with the per-org default; other orgs are apart", () => {
    const limits = new RateLimits(
      { perOrg: { rps: 1, burst: 4 } },
      () => new Map(),
      () => 0,
    );
    const results = ["api_key:a", "api_key:b", "agent:x", "api_key:a", "api_key:b"].map((id) =>
      outcome(() => limits.check(caller(id))),
    );
    expect(results).toEqual(["passed", "passed", "passed", "passed", "RATE_LIMITED"]);
    expect(outcome(() => limits.check(caller("api_key:c", "org_b")))).toBe("passed");
  });

  it("rereads per-key limits on reload", () => {
    let table = new Map<string, { rps: number; burst: number }>();
    const limits = new RateLimits(
      {},
      () => table,
      () => 0,
    );
    expect(limits.active).toBe(false);
    table = new Map([["api_key:k", { rps: 1, burst: 1 }]]);
    limits.reload();
    expect(limits.active).toBe(true);
    expect(outcome(() => limits.check(caller("api_key:k")))).toBe("passed");
    expect(outcome(() => limits.check(caller("api_key:k")))).toBe("RATE_LIMITED");
  });
});

describe("RateLimits in cluster workers (leases from one set of buckets)", () => {
  /** Two workers' limits over one primary's buckets, on a frozen clock. */
  function cluster(limit: { rps: number; burst: number }) {
    const primary = new QuotaBuckets(() => 0);
    let asked = 0;
    const worker = () => {
      const l = new RateLimits(
        { perKey: limit },
        () => new Map(),
        () => 0,
      );
      l.useRemote(async (charge, want) => {
        asked++;
        return primary.take(charge, want);
      }, 2);
      return l;
    };
    return { workers: [worker(), worker()], asked: () => asked };
  }
  const pass = async (l: RateLimits): Promise<boolean> => {
    try {
      await l.check({ id: "api_key:k", orgId: "o" });
      return true;
    } catch (err) {
      if (err instanceof TesseraError && err.reason === "RATE_LIMITED") return false;
      throw err;
    }
  };

  it("never lets through more than the buckets hold, and leases several tokens per trip at high rates", async () => {
    const c = cluster({ rps: 1000, burst: 100 });
    let passed = 0;
    for (let i = 0; i < 100; i++) if (await pass(c.workers[i % 2] as RateLimits)) passed++;
    // Leases of 10 (2% of 1000/s, over 2 workers): one trip to the primary per 10 calls.
    expect(c.asked()).toBe(10);
    for (let i = 0; i < 200; i++) if (await pass(c.workers[i % 2] as RateLimits)) passed++;
    expect(passed).toBe(100);
  });

  it("strands at most a lease per worker when traffic moves to one worker (within 10% of a second's rate)", async () => {
    const c = cluster({ rps: 1000, burst: 100 });
    const [a, b] = c.workers as [RateLimits, RateLimits];
    expect(await pass(b)).toBe(true);
    let passed = 1;
    for (let i = 0; i < 300; i++) if (await pass(a)) passed++;
    expect(passed).toBeLessThanOrEqual(100);
    expect(passed).toBeGreaterThanOrEqual(100 - 10);
  });

  it("answers synchronously from a lease, asking the primary only when it is spent", () => {
    const c = cluster({ rps: 1000, burst: 100 });
    const a = c.workers[0] as RateLimits;
    expect(a.check({ id: "api_key:k", orgId: "o" })).toBeInstanceOf(Promise);
    return Promise.resolve().then(async () => {
      await Promise.resolve();
      expect(a.check({ id: "api_key:k", orgId: "o" })).toBeUndefined();
    });
  });

  it("refuses a caller over its limit locally for half a token's time before asking the primary again", async () => {
    let now = 0;
    const primary = new QuotaBuckets(() => now);
    let asked = 0;
    const w = new RateLimits(
      { perKey: { rps: 1, burst: 1 } },
      () => new Map(),
      () => now,
    );
    w.useRemote(async (charge, want) => {
      asked++;
      return primary.take(charge, want);
    }, 2);
    expect(await pass(w)).toBe(true);
    expect(await pass(w)).toBe(false);
    expect(asked).toBe(2);
    for (let i = 0; i < 50; i++) expect(await pass(w)).toBe(false);
    expect(asked).toBe(2);
    now = 1000;
    expect(await pass(w)).toBe(true);
    expect(asked).toBe(3);
  });
});
