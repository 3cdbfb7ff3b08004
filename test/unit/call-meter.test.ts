import { describe, expect, it } from "vitest";
import { DecisionCounts } from "../../src/core/decision-counts.js";
import { CallMeter, LATENCY_BUCKETS, type SlowCall } from "../../src/observe/call-meter.js";
import { Metrics } from "../../src/observe/metrics.js";
import { requestIdFrom } from "../../src/observe/request-id.js";

describe("CallMeter", () => {
  it("gives one tally per method and transport, and buckets each call once", () => {
    const meter = new CallMeter({ slowCallMs: 0 });
    const t = meter.method("tessera.v1.AuthService", "Authorize", "grpc");
    expect(meter.method("tessera.v1.AuthService", "Authorize", "grpc")).toBe(t);
    expect(meter.method("tessera.v1.AuthService", "Authorize", "connect")).not.toBe(t);
    t.record(0, performance.now(), "a");
    t.record(16, performance.now() - 60_000, "b");
    expect(t.count).toBe(2);
    expect(t.outcomes()).toEqual([
      [0, 1],
      [16, 1],
    ]);
    // A minute is above every bound: the overflow slot.
    expect(t.buckets[LATENCY_BUCKETS.length]).toBe(1);
  });

  it("reports a call at or above slowCallMs with its request id, and none below", () => {
    const slow: SlowCall[] = [];
    const meter = new CallMeter({ slowCallMs: 1_000, onSlow: (c) => slow.push(c) });
    const t = meter.method("tessera.v1.AdminService", "PutPolicy", "connect");
    t.record(0, performance.now(), "fast");
    t.record(14, performance.now() - 2_000, "req-slow");
    expect(slow).toHaveLength(1);
    expect(slow[0]).toMatchObject({
      rpc: "tessera.v1.AdminService/PutPolicy",
      transport: "connect",
      code: "Unavailable",
      requestId: "req-slow",
    });
    expect(slow[0]?.ms).toBeGreaterThanOrEqual(2_000);
  });

  it("reports nothing with slowCallMs 0", () => {
    const slow: SlowCall[] = [];
    const t = new CallMeter({ slowCallMs: 0, onSlow: (c) => slow.push(c) }).route("/access/v1/evaluation");
    t.record(200, performance.now() - 60_000, "x");
    expect(slow).toEqual([]);
  });
});

describe("requestIdFrom", () => {
  it.each([
    ["abc-123", true],
    ["0af7651916cd43dd8448eb211c80319c", true],
    ["a.b:c_d", true],
    ["", false],
    ["has space", false],
    ["new\nline", false],
    ["x".repeat(129), false],
    [undefined, false],
  ])("%j kept: %s", (given, kept) => {
    const id = requestIdFrom(given);
    if (kept) expect(id).toBe(given);
    else expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });
});

describe("Metrics", () => {
  it("reads the components' counters at scrape time, cumulative buckets included", async () => {
    const decisions = new DecisionCounts();
    const meter = new CallMeter({ slowCallMs: 0 });
    let hits = 0;
    const metrics = new Metrics(
      {
        calls: meter,
        decisions: () => decisions.entries(),
        tokenCache: () => ({ hits, misses: 1 }),
        signingKey: () => ({ activeAgeSeconds: 42, nextRotationSeconds: undefined }),
        rateLimits: () => ({ refusals: 3 }),
      },
      { processMetrics: false },
    );
    decisions.add("org_a", true, "ALLOWED_BY_RULE");
    decisions.add("org_a", false, "NO_MATCHING_RULE");
    decisions.add("org_a", false, "NO_MATCHING_RULE");
    hits = 7;
    const t = meter.method("tessera.v1.AuthService", "Authorize", "grpc");
    t.record(0, performance.now() - 3_000, "a"); // 3 s: in the 5 s bucket
    const text = await metrics.text();
    expect(text).toContain(
      'tessera_decisions_total{decision="DENY",reason="NO_MATCHING_RULE",org="org_a"} 2',
    );
    expect(text).toContain(
      'tessera_decisions_total{decision="ALLOW",reason="ALLOWED_BY_RULE",org="org_a"} 1',
    );
    expect(text).toContain('tessera_cache_lookups_total{cache="token",result="hit"} 7');
    expect(text).toContain("tessera_signing_key_age_seconds 42");
    expect(text).not.toMatch(/^tessera_signing_key_next_rotation_seconds /m);
    expect(text).toContain("tessera_rate_limit_refusals_total 3");
    const labels =
      'grpc_type="unary",grpc_service="tessera.v1.AuthService",grpc_method="Authorize",transport="grpc"';
    expect(text).toContain(`grpc_server_handling_seconds_bucket{${labels},le="2.5"} 0`);
    expect(text).toContain(`grpc_server_handling_seconds_bucket{${labels},le="5"} 1`);
    expect(text).toContain(`grpc_server_handling_seconds_bucket{${labels},le="+Inf"} 1`);
    expect(text).toContain(`grpc_server_handling_seconds_count{${labels}} 1`);
  });
});
