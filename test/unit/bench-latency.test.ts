import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  latencyRecord,
  parseLatencyLog,
  percentile,
  percentileDistribution,
  readLatencyLog,
} from "../../bench/latency.mjs";
import { latencyChart } from "../../bench/latency-chart.mjs";

const dir = mkdtempSync(join(tmpdir(), "bench-latency-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 1..n µs in a fixed shuffled order (a seeded Fisher–Yates), as h2load lines. */
function shuffledLog(n: number, status = (_i: number) => 200): string {
  const v = Array.from({ length: n }, (_, i) => i + 1);
  let seed = 12345;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [v[i], v[j]] = [v[j] as number, v[i] as number];
  }
  return v.map((us, i) => `${1_700_000_000_000_000 + i * 100}\t${status(i)}\t${us}\n`).join("");
}

function writeLog(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("bench/latency.mjs: every latency of an h2load log", () => {
  it("gives exact nearest-rank percentiles of every latency", () => {
    const r = readLatencyLog(writeLog("shuffled.log", shuffledLog(10_000)));
    expect(r.count).toBe(10_000);
    expect(r.bad).toBe(0);
    expect(r.minUs).toBe(1);
    expect(r.meanUs).toBe(5000.5);
    expect(r.p50Us).toBe(5000);
    expect(r.p90Us).toBe(9000);
    expect(r.p99Us).toBe(9900);
    expect(r.p999Us).toBe(9990);
    expect(r.p9999Us).toBe(9999);
    expect(r.maxUs).toBe(10_000);
  });

  it("takes the nearest rank at the edges: p0 is the min, p100 the max, one sample is every percentile", () => {
    const sorted = [10, 20, 30, 40];
    expect(percentile(sorted, 0)).toBe(10);
    expect(percentile(sorted, 25)).toBe(10);
    expect(percentile(sorted, 25.0001)).toBe(20);
    expect(percentile(sorted, 100)).toBe(40);
    expect(latencyRecord([7])).toMatchObject({ count: 1, p50Us: 7, p9999Us: 7, maxUs: 7 });
    expect(() => percentile([], 50)).toThrow();
    expect(() => percentile(sorted, 101)).toThrow();
  });

  it("counts every line that is not 200 as bad and still keeps its latency", () => {
    const text = "1\t200\t100\n2\t503\t5000\n3\t200\t300\n4\t0\t40\n";
    expect(parseLatencyLog(text).bad).toBe(2);
    const r = readLatencyLog(writeLog("bad.log", text));
    expect(r).toMatchObject({ count: 4, bad: 2, minUs: 40, maxUs: 5000 });
  });

  it("keeps a compact HdrHistogram percentile distribution: ascending, halving the tail, ending at the max", () => {
    const r = readLatencyLog(writeLog("dist.log", shuffledLog(10_000)));
    const d = r.distribution;
    expect(d.length).toBeGreaterThan(40);
    expect(d.length).toBeLessThanOrEqual(70);
    expect(d[0]).toEqual([0, 1]);
    expect(d.at(-1)).toEqual([100, 10_000]);
    for (let i = 1; i < d.length; i++) {
      const [p0, v0] = d[i - 1] as [number, number];
      const [p1, v1] = d[i] as [number, number];
      expect(p1).toBeGreaterThan(p0);
      expect(v1).toBeGreaterThanOrEqual(v0);
    }
    // the halvings are there, each with its nearest-rank value
    const at = new Map(d);
    expect(at.get(50)).toBe(5000);
    expect(at.get(75)).toBe(7500);
    expect(at.get(87.5)).toBe(8750);
    expect(at.get(93.75)).toBe(9375);
    // the last point before the max still has a sample in its tail
    const [pLast] = d.at(-2) as [number, number];
    expect((1 - pLast / 100) * 10_000).toBeGreaterThanOrEqual(1);
    // one point per halving (ticks = 1) is HdrHistogram's 0, 50, 75, 87.5, ...
    expect(percentileDistribution([1, 2, 3, 4, 5, 6, 7, 8], 1)).toEqual([
      [0, 1],
      [50, 4],
      [75, 6],
      [87.5, 7],
      [100, 8],
    ]);
  });

  it("fails loudly on a line that is not three integers, and on an empty log", () => {
    const good = "1\t200\t100\n";
    for (const line of [
      "1\t200\n",
      "1\t200\t1.5\n",
      "1\t200\tabc\n",
      "1\t200\t100\t9\n",
      "\n",
      "1 200 100\n",
    ])
      expect(() => parseLatencyLog(good + line + good), JSON.stringify(line)).toThrow();
    expect(() => readLatencyLog(writeLog("broken.log", `${good}1\t200\tx\n${good}`))).toThrow();
    expect(() => readLatencyLog(writeLog("empty.log", ""))).toThrow();
  });

  it("is what h2load.mjs's logPercentiles returns, with the fields run.mjs reads", async () => {
    const mod = new URL("../../bench/h2load.mjs", import.meta.url).href;
    const { logPercentiles } = await import(mod);
    const path = writeLog("h2load.log", shuffledLog(1000));
    const r = logPercentiles(path);
    expect(r).toEqual(readLatencyLog(path));
    for (const k of ["count", "bad", "meanUs", "maxUs", "p50Us", "p99Us", "p999Us", "p9999Us"])
      expect(typeof r[k]).toBe("number");
  });
});

describe("bench/latency-chart.mjs: the percentile-distribution chart", () => {
  const series = [
    { name: "Tessera", latency: latencyRecord(Array.from({ length: 20_000 }, (_, i) => 300 + i / 10)) },
    { name: "Cerbos", latency: latencyRecord(Array.from({ length: 20_000 }, (_, i) => 400 + i / 5)) },
    { name: "limit <bare>", latency: latencyRecord(Array.from({ length: 10_000 }, (_, i) => 200 + i / 20)) },
  ];
  const svg = latencyChart(series, { title: "Open loop & percentiles" });

  it("draws one path per series and names each in the legend", () => {
    expect(svg.match(/<path /g)).toHaveLength(3);
    expect(svg).toContain(">Tessera<");
    expect(svg).toContain(">Cerbos<");
    expect(svg).toContain(">limit &lt;bare&gt;<");
    expect(svg).toContain("Open loop &amp; percentiles");
    for (const label of [">50%<", ">90%<", ">99%<", ">99.9%<", ">max<", "latency (ms)"])
      expect(svg).toContain(label);
  });

  it("is one self-contained SVG: no script, no external reference", () => {
    expect(svg.startsWith("<svg ")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg.match(/<svg /g)).toHaveLength(1);
    expect(svg).not.toMatch(/<script|href=|@import|url\(|@font-face/i);
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
  });

  it("refuses a series without a distribution", () => {
    expect(() => latencyChart([])).toThrow();
    // @ts-expect-error a series must carry a latency record
    expect(() => latencyChart([{ name: "x" }])).toThrow();
  });
});
