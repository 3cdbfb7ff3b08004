import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// The build's copy (npm test builds first): the flag is set in a fresh process, as `serve` does.
const HEAP = fileURLToPath(new URL("../../dist/src/core/heap.js", import.meta.url));

/**
 * The most old space a process holds while it keeps ~40 MiB live and makes garbage that outlives
 * two scavenges (a ring of recent objects, as a server's calls in flight are), with or without
 * limitHeapGrowth called first.
 */
function peakOldSpaceMiB(limited: boolean, nodeArgs: string[] = []): number {
  const script = `
    import v8 from "node:v8";
    import { limitHeapGrowth } from ${JSON.stringify(HEAP)};
    if (${limited}) limitHeapGrowth();
    const old = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "old_space").space_used_size;
    const live = Array.from({ length: 400_000 }, (_, i) => ({ i, s: "live-" + i, a: [i, i + 1] }));
    const ring = new Array(100_000);
    let peak = 0;
    for (let i = 0; i < 4_000_000; i++) {
      ring[i % ring.length] = { i, s: "x" + i, a: [i] };
      if (i % 10_000 === 0) peak = Math.max(peak, old());
    }
    process.stdout.write(String(peak / 1048576 + live.length * 0));
  `;
  const r = spawnSync(process.execPath, [...nodeArgs, "--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return Number(r.stdout);
}

describe("limitHeapGrowth (serve's workers and single process)", () => {
  it("is built (npm run build)", () => {
    expect(existsSync(HEAP)).toBe(true);
  });

  it("keeps the old generation near its live size where V8 alone lets it grow to a multiple", () => {
    const free = peakOldSpaceMiB(false);
    const limited = peakOldSpaceMiB(true);
    // Measured here: ~305 MiB left to V8, ~110–130 MiB limited (the live set is ~70 MiB).
    expect(limited).toBeLessThan(free * 0.6);
  }, 120_000);

  it("leaves the operator's own --heap-growing-percent on node's command line alone", () => {
    const operators = peakOldSpaceMiB(true, ["--heap-growing-percent=300"]);
    const limited = peakOldSpaceMiB(true);
    expect(operators).toBeGreaterThan(limited * 1.5);
  }, 120_000);
});
