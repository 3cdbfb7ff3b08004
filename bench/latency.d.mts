// Types of latency.mjs for the TypeScript tests that import it.

/** [percentile (0..100), latency µs] */
export type DistributionPoint = [number, number];

export interface LatencyRecord {
  count: number;
  bad: number;
  minUs: number;
  meanUs: number;
  maxUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  p9999Us: number;
  distribution: DistributionPoint[];
}

export declare const TICKS_PER_HALF: number;
export declare function parseLatencyLog(
  text: string,
  source?: string,
): { latenciesUs: Float64Array; bad: number };
export declare function percentile(sortedUs: ArrayLike<number>, p: number): number;
export declare function percentileDistribution(
  sortedUs: ArrayLike<number>,
  ticksPerHalf?: number,
): DistributionPoint[];
export declare function latencyRecord(
  latenciesUs: ArrayLike<number> | Iterable<number>,
  options?: { bad?: number; ticksPerHalf?: number },
): LatencyRecord;
export declare function readLatencyLog(path: string, options?: { ticksPerHalf?: number }): LatencyRecord;
