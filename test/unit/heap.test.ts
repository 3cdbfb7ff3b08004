import { constants, PerformanceObserver } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { HEAP_GROWING_PERCENT, limitHeapGrowth, reclaimAfterCompile } from "../../src/core/heap.js";

/** Resolves with the kinds of the garbage collections seen while `fn` and the next turns run. */
async function collectionsDuring(fn: () => void): Promise<number[]> {
  const kinds: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) kinds.push((e as unknown as { detail: { kind: number } }).detail.kind);
  });
  observer.observe({ entryTypes: ["gc"] });
  fn();
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 50));
  observer.disconnect();
  return kinds;
}

describe("reclaimAfterCompile", () => {
  it("runs one full collection after a large revision, once the current turn is over", async () => {
    const kinds = await collectionsDuring(() => reclaimAfterCompile(10_000));
    expect(kinds).toContain(constants.NODE_PERFORMANCE_GC_MAJOR);
  });

  it("asks for one collection however many large revisions land in the same turn", async () => {
    const kinds = await collectionsDuring(() => {
      for (let i = 0; i < 5; i++) reclaimAfterCompile(10_000);
    });
    expect(kinds.filter((k) => k === constants.NODE_PERFORMANCE_GC_MAJOR).length).toBe(1);
  });
});

describe("limitHeapGrowth", () => {
  it("leaves V8's --heap-growing-percent to the operator when given on node's command line", () => {
    expect(limitHeapGrowth(["--heap-growing-percent=50"])).toBeUndefined();
    expect(limitHeapGrowth(["--max-old-space-size=512", "--heap_growing_percent", "50"])).toBeUndefined();
  });

  it("sets its own percent otherwise", () => {
    expect(limitHeapGrowth(["--max-old-space-size=512", "--heap-growing-percents-are-not-this"])).toBe(
      HEAP_GROWING_PERCENT,
    );
  });
});
