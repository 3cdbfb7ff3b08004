// Types of latency-chart.mjs for the TypeScript tests that import it.
import type { LatencyRecord } from "./latency.mjs";

export interface LatencySeries {
  name: string;
  latency: Pick<LatencyRecord, "count" | "maxUs" | "p50Us" | "p99Us" | "p999Us" | "distribution">;
  color?: string;
}

export declare function latencyChart(
  series: LatencySeries[],
  options?: { title?: string; subtitle?: string; width?: number; height?: number },
): string;
