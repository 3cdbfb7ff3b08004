import {
  AggregatorRegistry,
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type MetricObjectWithValues,
  type MetricValue,
  type PrometheusContentType,
  Registry,
} from "prom-client";
import { type CallMeter, GRPC_CODES, LATENCY_BUCKETS, type Tally } from "./call-meter.js";

/*
 * The Prometheus metrics of one process (the only importer of prom-client). Components keep
 * plain counters behind a `stats()` and the call tallies of call-meter.ts; the series here read
 * them when scraped, so the hot path never touches prom-client. With --workers the primary
 * sums every worker's registry (prom-client's AggregatorRegistry), so one scrape sees the whole
 * server. No label ever holds a subject, a token, a key or a raw path.
 */

/** What the metrics read at scrape time; each source is optional (a test may give none). */
export interface MetricSources {
  readonly calls?: CallMeter | undefined;
  readonly tokenCache?: (() => { readonly hits: number; readonly misses: number }) | undefined;
  readonly credentialCache?: (() => { readonly hits: number; readonly misses: number }) | undefined;
  readonly decisions?:
    | (() => readonly { orgId: string; reason: string; decision: string; count: number }[])
    | undefined;
  readonly decisionLog?:
    | (() => {
        readonly backlog: number;
        readonly written: number;
        readonly spilled: number;
        readonly lost: number;
        readonly summarised: number;
        readonly truncated: number;
      })
    | undefined;
  readonly signingKey?:
    | (() => { readonly activeAgeSeconds: number; readonly nextRotationSeconds: number | undefined })
    | undefined;
  readonly rateLimits?: (() => { readonly refusals: number }) | undefined;
}

/** The Prometheus text format's content type. */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

type Labels = Record<string, string | number>;
type Aggregator = "sum" | "max" | "min";

/** A series prom-client formats and aggregates like its own, computed by `values` when scraped. */
function rawMetric(
  name: string,
  help: string,
  type: "counter" | "gauge" | "histogram",
  values: () => MetricValue<string>[],
  aggregator: Aggregator = "sum",
) {
  return {
    name,
    help,
    type,
    aggregator,
    get: (): MetricObjectWithValues<MetricValue<string>> =>
      ({ name, help, type, aggregator, values: values() }) as never,
    reset: () => {},
  };
}

/** A tally as histogram samples: cumulative buckets, +Inf, sum and count. */
function histogramValues(name: string, t: Tally, labels: Labels): MetricValue<string>[] {
  const out: MetricValue<string>[] = [];
  let cumulative = 0;
  for (const [i, le] of LATENCY_BUCKETS.entries()) {
    cumulative += t.buckets[i] as number;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: cumulative } as never);
  }
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: "+Inf" }, value: t.count } as never);
  out.push({ metricName: `${name}_sum`, labels, value: t.sum } as never);
  out.push({ metricName: `${name}_count`, labels, value: t.count } as never);
  return out;
}

function callSeries(registry: Registry, calls: CallMeter): void {
  const rpcLabels = (t: Tally): Labels => ({
    grpc_type: "unary",
    grpc_service: t.service,
    grpc_method: t.method,
    transport: t.transport,
  });
  // Methods never called are left out: ~60 methods, 3 transports and 17 buckets would be thousands of zeros.
  const called = () => [...calls.tallies()].filter((t) => t.count > 0);
  const rpcs = () => called().filter((t) => t.transport !== "http");
  const routes = () => called().filter((t) => t.transport === "http");
  const register = (m: ReturnType<typeof rawMetric>) => registry.registerMetric(m as never);
  register(
    rawMetric("grpc_server_handled_total", "RPCs completed, by method and gRPC status code", "counter", () =>
      rpcs().flatMap((t) =>
        t.outcomes().map(([code, value]) => ({
          labels: { ...rpcLabels(t), grpc_code: GRPC_CODES[code] ?? String(code) },
          value,
        })),
      ),
    ),
  );
  register(
    rawMetric("grpc_server_handling_seconds", "RPC handling time, by method", "histogram", () =>
      rpcs().flatMap((t) => histogramValues("grpc_server_handling_seconds", t, rpcLabels(t))),
    ),
  );
  register(
    rawMetric(
      "tessera_http_requests_total",
      "plain HTTP requests (AuthZEN, forward auth), by route and status",
      "counter",
      () =>
        routes().flatMap((t) =>
          t.outcomes().map(([code, value]) => ({ labels: { route: t.method, code }, value })),
        ),
    ),
  );
  register(
    rawMetric("tessera_http_request_duration_seconds", "plain HTTP request time, by route", "histogram", () =>
      routes().flatMap((t) =>
        histogramValues("tessera_http_request_duration_seconds", t, { route: t.method }),
      ),
    ),
  );
}

/** A counter that reads its value from `read` when scraped (the component counts, not us). */
function readCounter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: () => readonly { labels: Record<L, string>; value: number }[],
): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const { labels, value } of read()) if (value > 0) this.inc(labels, value);
    },
  });
}

function sourceSeries(registry: Registry, s: MetricSources): void {
  const { tokenCache, credentialCache, decisions, decisionLog, signingKey } = s;
  readCounter(
    registry,
    "tessera_cache_lookups_total",
    "token and credential cache lookups",
    ["cache", "result"],
    () => {
      const out: { labels: Record<"cache" | "result", string>; value: number }[] = [];
      for (const [cache, read] of [
        ["token", tokenCache],
        ["credential", credentialCache],
      ] as const) {
        const st = read?.();
        if (!st) continue;
        out.push({ labels: { cache, result: "hit" }, value: st.hits });
        out.push({ labels: { cache, result: "miss" }, value: st.misses });
      }
      return out;
    },
  );
  readCounter(
    registry,
    "tessera_decisions_total",
    "decisions, by outcome, reason and org",
    ["decision", "reason", "org"],
    () =>
      (decisions?.() ?? []).map((d) => ({
        labels: { decision: d.decision, reason: d.reason, org: d.orgId },
        value: d.count,
      })),
  );
  readCounter(
    registry,
    "tessera_decision_log_records_total",
    "decisions the log handled, by outcome",
    ["result"],
    () => {
      const st = decisionLog?.();
      if (!st) return [];
      return (["written", "spilled", "lost", "summarised", "truncated"] as const).map((result) => ({
        labels: { result },
        value: st[result],
      }));
    },
  );
  new Gauge({
    name: "tessera_decision_log_queue_depth",
    help: "decisions queued and not yet stored",
    registers: [registry],
    collect() {
      this.set(decisionLog?.().backlog ?? 0);
    },
  });
  new Gauge({
    name: "tessera_signing_key_age_seconds",
    help: "how long the active signing key has signed",
    registers: [registry],
    aggregator: "max",
    collect() {
      const st = signingKey?.();
      if (st) this.set(st.activeAgeSeconds);
    },
  });
  // A plain Gauge always shows a value: with rotation off there is none to show.
  registry.registerMetric(
    rawMetric(
      "tessera_signing_key_next_rotation_seconds",
      "time until the signing key is rotated (absent when rotation is off)",
      "gauge",
      () => {
        const next = signingKey?.().nextRotationSeconds;
        return next === undefined ? [] : [{ labels: {}, value: next }];
      },
      "min",
    ) as never,
  );
}

/** One process's metrics. */
export class Metrics {
  readonly registry = new Registry();
  private readonly batches: Counter;
  private readonly writeSeconds: Histogram;

  constructor(sources: MetricSources, opts: { readonly processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    if (sources.calls) callSeries(this.registry, sources.calls);
    sourceSeries(this.registry, sources);
    new Counter({
      name: "tessera_rate_limit_refusals_total",
      help: "calls refused over a rate limit (a key's, an agent's or the org's)",
      registers,
      collect() {
        const refused = sources.rateLimits?.().refusals ?? 0;
        this.reset();
        this.inc(refused);
      },
    });
    this.batches = new Counter({
      name: "tessera_decision_log_batches_written_total",
      help: "decision batches stored in the database",
      registers,
    });
    this.writeSeconds = new Histogram({
      name: "tessera_decision_log_write_seconds",
      help: "time to store one decision batch",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
  }

  /** A decision batch was stored in `seconds` (the decision log tells us; off the hot path). */
  batchWritten(seconds: number): void {
    this.batches.inc();
    this.writeSeconds.observe(seconds);
  }

  /** This process's metrics in the Prometheus text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

let aggregator: AggregatorRegistry<PrometheusContentType> | undefined;

/**
 * In a cluster worker: answer the primary's scrapes with `metrics` (none yet: an empty answer,
 * so a worker still starting does not stall a scrape until it times out). Call once early, and
 * again with the worker's metrics once they exist.
 */
export function answerClusterScrapes(metrics?: Metrics): void {
  AggregatorRegistry.setRegistries(metrics ? [metrics.registry] : []);
  aggregator ??= new AggregatorRegistry();
}

/** On the cluster primary: every worker's metrics, summed (a rejection after 5 s when one does not answer). */
export function clusterMetricsText(): Promise<string> {
  aggregator ??= new AggregatorRegistry();
  return aggregator.clusterMetrics();
}
