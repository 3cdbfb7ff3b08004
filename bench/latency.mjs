// Every latency of a run, as h2load's --log-file gives it, summed up the way HdrHistogram does:
// exact percentiles (nearest rank over the sorted list of every latency, no sampling) and a
// "percentile distribution" (the value at 0%, then more and more points as the remaining tail
// halves, up to the maximum), compact enough to keep in bench/results/latest.json.
import { readFileSync } from "node:fs";

/** Points per halving of the remaining tail (HdrHistogram's ticksPerHalfDistance). */
export const TICKS_PER_HALF = 4;

const INT = /^-?\d+$/;

/**
 * Reads the text of an h2load --log-file: one line per request, "start µs<TAB>status<TAB>duration µs".
 * Returns every duration (µs, unsorted, in log order) and how many requests were not 200.
 * A line that is not three integers throws with its line number: a log we cannot read must not
 * quietly lose requests.
 */
export function parseLatencyLog(text, source = "h2load log") {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const latenciesUs = new Float64Array(lines.length);
  let bad = 0;
  lines.forEach((line, i) => {
    const f = line.split("\t");
    if (f.length !== 3 || !f.every((v) => INT.test(v)) || Number(f[2]) < 0)
      throw new Error(`${source}:${i + 1}: not "start µs, status, duration µs": ${JSON.stringify(line)}`);
    if (f[1] !== "200") bad++;
    latenciesUs[i] = Number(f[2]);
  });
  return { latenciesUs, bad };
}

/** The nearest-rank percentile (p in percent, 0..100) of an ascending list: the value at rank ⌈p·N/100⌉. */
export function percentile(sortedUs, p) {
  const n = sortedUs.length;
  if (n === 0) throw new Error("percentile of no latencies");
  if (!(p >= 0 && p <= 100)) throw new Error(`percentile ${p} is not within 0..100`);
  const exact = (p * n) / 100;
  // p·N/100 in floating point can land a hair above an integer (99.9 × 10000): do not round that up.
  const rank = Math.min(n, Math.max(1, Math.ceil(exact - exact * 1e-12)));
  return sortedUs[rank - 1];
}

/**
 * HdrHistogram's percentile distribution of an ascending list: [percentile, µs] pairs at
 * 0, 100/(2·t), ..., 50 (t steps in the first half), then t steps in each next halving of the
 * tail (50, 56.25, 62.5, 68.75, 75, 76.5625, ... for t = 4), while the tail still holds a
 * sample, and a last pair [100, max]. Percentiles ascend, values never decrease.
 */
export function percentileDistribution(sortedUs, ticksPerHalf = TICKS_PER_HALF) {
  const n = sortedUs.length;
  if (n === 0) throw new Error("percentile distribution of no latencies");
  const out = [];
  // Halving k covers the tail from 2^-k down to 2^-(k+1) of the samples.
  for (let k = 0; 2 ** -k * n >= 1; k++) {
    const from = 100 * (1 - 2 ** -k);
    const step = (100 * 2 ** -(k + 1)) / ticksPerHalf;
    for (let j = 0; j < ticksPerHalf; j++) {
      const p = from + j * step;
      if ((1 - p / 100) * n < 1) break; // past the last sample: only the max is left
      out.push([p, percentile(sortedUs, p)]);
    }
  }
  out.push([100, sortedUs[n - 1]]);
  return out;
}

/**
 * The latency record of a list of latencies (µs, any order; the list is not changed):
 * { count, bad, minUs, meanUs, maxUs, p50Us, p90Us, p99Us, p999Us, p9999Us, distribution }
 * where distribution is [[percentile, µs], ...] as percentileDistribution gives it.
 */
export function latencyRecord(latenciesUs, { bad = 0, ticksPerHalf = TICKS_PER_HALF } = {}) {
  const sorted = Float64Array.from(latenciesUs).sort();
  const n = sorted.length;
  if (n === 0) throw new Error("no latencies to sum up");
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: n,
    bad,
    minUs: sorted[0],
    meanUs: sum / n,
    maxUs: sorted[n - 1],
    p50Us: percentile(sorted, 50),
    p90Us: percentile(sorted, 90),
    p99Us: percentile(sorted, 99),
    p999Us: percentile(sorted, 99.9),
    p9999Us: percentile(sorted, 99.99),
    distribution: percentileDistribution(sorted, ticksPerHalf),
  };
}

/** The latency record of an h2load --log-file (see parseLatencyLog and latencyRecord). */
export function readLatencyLog(path, options = {}) {
  const { latenciesUs, bad } = parseLatencyLog(readFileSync(path, "utf8"), path);
  if (latenciesUs.length === 0) throw new Error(`${path}: an empty h2load log`);
  return latencyRecord(latenciesUs, { ...options, bad });
}
