import cluster, { type Worker } from "node:cluster";
import * as os from "node:os";
import type { Config } from "./config/config.js";
import type { NewOrg } from "./core/bootstrap.js";
import { type Charge, type Grant, QuotaBuckets, type RateLimits } from "./core/rate-limits.js";
import { buildTessera } from "./core/tessera.js";
import type { Logger } from "./log.js";
import { bootstrapDevOrg, readTlsOrRefuse } from "./main.js";
import { clusterMetricsText } from "./observe/metrics.js";
import { openTesseraStore } from "./store/open.js";
import type { ConnectionDispatcher } from "./transport/connection-dispatch.js";
import type { HealthReport } from "./transport/health-port.js";

/**
 * What a worker tells the primary: it listens, or it could not start (and why, safe to print),
 * and every second whether it takes calls (the health port answers from these).
 */
type WorkerMessage =
  | { readonly type: "listening"; readonly grpcPort: number; readonly httpPort: number }
  | { readonly type: "failed"; readonly message: string }
  | { readonly type: "health"; readonly ready: boolean }
  | { readonly type: "metrics"; readonly id: number }
  | QuotaRequest;

/** What the primary answers a worker's "metrics": every worker's metrics summed, or none (a worker was silent). */
type MetricsReply = { readonly type: "metrics-reply"; readonly id: number; readonly text?: string };

/** How long a worker waits for the primary's summed metrics (prom-client gives up on a silent worker after 5 s). */
const METRICS_WAIT_MS = 6_000;

/** A worker asking the primary for up to `want` tokens of a rate-limit charge (core/rate-limits.ts). */
interface QuotaRequest {
  readonly type: "quota";
  readonly seq: number;
  readonly charge: Charge;
  readonly want: number;
}

/** The primary's answer to a QuotaRequest of the same `seq`. */
interface QuotaAnswer extends Grant {
  readonly type: "quota-grant";
  readonly seq: number;
}

/** How often a worker reports its readiness to the primary. */
const HEALTH_EVERY_MS = 1_000;
/** A worker not heard from for this long is stuck: liveness fails, so its supervisor restarts us. */
const SILENT_MS = 10_000;

/** What the primary knows of its workers' health: each one's last report, and when it came. */
export class WorkerHealth {
  private readonly workers = new Map<number, { ready: boolean; at: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  heard(id: number, ready: boolean): void {
    this.workers.set(id, { ready, at: this.now() });
  }

  gone(id: number): void {
    this.workers.delete(id);
  }

  /** Ready while one worker takes calls; live unless a worker has been silent too long. */
  report(): HealthReport {
    const now = this.now();
    let ready = 0;
    let silent = 0;
    for (const w of this.workers.values()) {
      if (now - w.at > SILENT_MS) silent++;
      else if (w.ready) ready++;
    }
    return { live: silent === 0, ready: ready > 0, detail: { workers: this.workers.size, ready, silent } };
  }
}

/**
 * Prepares the data directory once, before any worker starts (migrations, the first signing
 * key), so workers never race to create them.
 */
export async function prepareDataDir(config: Config): Promise<void> {
  readTlsOrRefuse(config);
  const store = await openTesseraStore(config);
  try {
    await buildTessera(store, { ...config, decisionLog: false });
  } finally {
    await store.close();
  }
}

/** Once every worker listens: the development org on a first start (workers pick it up by sync). */
export async function bootstrapDataDir(config: Config): Promise<NewOrg | undefined> {
  const store = await openTesseraStore(config);
  try {
    return await bootstrapDevOrg(store, await buildTessera(store, { ...config, decisionLog: false }), config);
  } finally {
    await store.close();
  }
}

export interface PrimaryEvents {
  /** Every worker listens; ports are the shared ones. */
  onListening(ports: { grpcPort: number; httpPort: number }): void;
  /** A worker could not start (a port in use, a bad certificate…): everything was stopped. */
  onStartFailed(message: string): void;
}

/**
 * Runs the cluster primary: forks `config.workers` workers (each a full server on the shared
 * ports), replaces one that dies after it started, and on SIGTERM/SIGINT drains them all before
 * exiting. A worker that fails to start is not retried: the whole server stops and says why.
 */
export function runPrimary(
  config: Config,
  log: Logger,
  events: PrimaryEvents,
  grpc: ConnectionDispatcher,
  health = new WorkerHealth(),
): void {
  // The HTTP port: workers accept connections themselves (the kernel hands each to one of them).
  // With the cluster module's round robin the primary accepts and passes each connection on: one
  // passed to a worker that has just died is neither served nor closed, and its client hangs
  // until its own deadline. Here a dead worker's connections are reset at once, and new ones go
  // to the living. The gRPC port, whose few long-lived connections must be spread evenly, is
  // dealt by `grpc` (transport/connection-dispatch.ts).
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  preferPrimary(log);
  let stopping = false;
  let failed = false;
  let ready = 0;
  /** Every worker has listened once: from then on a worker that fails to start is retried. */
  let everServed = false;
  /** Replacements in a row that failed to start (their retry waits double, up to 30 s). */
  let replacementFailures = 0;
  const started = new Set<Worker>();
  const env = { TESSERA_BOOTSTRAP_DEV_ORG: "false" };
  // The rate-limit buckets of the whole server: workers lease tokens from them.
  const quota = new QuotaBuckets();
  const stopAll = (): void => {
    stopping = true;
    grpc.close();
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGTERM");
    setTimeout(() => process.exit(1), 15_000).unref();
  };
  const startFailed = (message: string): void => {
    if (stopping) return;
    failed = true;
    stopAll();
    events.onStartFailed(message);
  };
  const fork = (): Worker => {
    const w = cluster.fork(env);
    w.on("message", (m: WorkerMessage) => {
      if (m?.type === "quota") {
        const answer: QuotaAnswer = { type: "quota-grant", seq: m.seq, ...quota.take(m.charge, m.want) };
        if (w.isConnected()) w.send(answer);
        return;
      }
      if (m?.type === "failed") {
        // After the first start, a replacement that cannot start (its database unreachable) is
        // retried below; the running workers go on serving from memory meanwhile.
        if (everServed)
          return log.error(
            { pid: w.process.pid, message: m.message },
            "a replacement worker could not start",
          );
        return startFailed(m.message);
      }
      if (m?.type === "health" && started.has(w)) return health.heard(w.id, m.ready);
      if (m?.type === "metrics") return answerMetrics(w, m.id);
      if (m?.type !== "listening") return;
      started.add(w);
      grpc.add(w);
      health.heard(w.id, true);
      ready++;
      replacementFailures = 0;
      if (ready === config.workers) {
        everServed = true;
        events.onListening({ grpcPort: grpc.port, httpPort: m.httpPort });
      }
    });
    return w;
  };
  cluster.on("exit", (worker, code, signal) => {
    health.gone(worker.id);
    grpc.remove(worker);
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(failed ? 1 : 0);
      return;
    }
    if (!started.has(worker) && !everServed)
      return startFailed(`a worker exited while starting (code ${code ?? signal})`);
    const wait = Math.min(30_000, 500 * 2 ** replacementFailures);
    if (!started.has(worker)) replacementFailures++;
    log.error(
      { pid: worker.process.pid, code, signal, retryInMs: wait },
      "worker died; starting a replacement",
    );
    setTimeout(fork, wait);
  });
  const stop = (signal: string): void => {
    if (stopping) return;
    log.info({ signal }, "draining workers and shutting down");
    stopAll();
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  for (let i = 0; i < config.workers; i++) fork();
}

/** In a worker: tell the primary which ports we listen on. */
export function reportListening(grpcPort: number, httpPort: number): void {
  const message: WorkerMessage = { type: "listening", grpcPort, httpPort };
  process.send?.(message);
}

/**
 * The primary answers the health port and supervises; it uses almost no CPU. When the workers
 * keep every core busy, it should still run the moment a health check arrives: it asks the
 * scheduler to prefer it (a lower nice value), where the system allows that.
 */
function preferPrimary(log: Logger): void {
  try {
    os.setPriority(Math.max(-20, os.getPriority() - 5));
  } catch {
    log.debug("the primary's priority could not be raised (needs CAP_SYS_NICE); health checks share the CPU");
  }
}

/** In a worker: tell the primary every second whether this worker takes calls. */
export function reportHealth(ready: () => boolean): void {
  const tell = () => {
    const m: WorkerMessage = { type: "health", ready: ready() };
    if (process.connected) process.send?.(m);
  };
  setInterval(tell, HEALTH_EVERY_MS).unref();
}

/**
 * How long a worker waits for the primary's grant before letting the call through. Long: the
 * primary (niced, answering little) is slow only on a machine in trouble, and a short wait let
 * every call through exactly then (a full test run on 2 cores saw limits vanish at 2 s). A
 * primary that is gone is noticed at once instead (`disconnect`).
 */
const QUOTA_WAIT_MS = 10_000;

/**
 * In a worker: rate limits take their tokens from the primary's buckets (shared by all
 * `workers`), leased a few at a time (see RateLimits). Should the primary not answer (it is
 * stopping), the call passes: a limit protects the server from a caller, it is not what keeps
 * a caller out, so failing open is the safer side.
 */
export function useClusterQuota(limits: RateLimits, workers: number): void {
  if (!process.send) return;
  let seq = 0;
  const waiting = new Map<number, (g: Grant) => void>();
  process.on("message", (m: QuotaAnswer) => {
    if (m?.type !== "quota-grant") return;
    const done = waiting.get(m.seq);
    waiting.delete(m.seq);
    done?.({ granted: m.granted, retryAfterSeconds: m.retryAfterSeconds });
  });
  const open: Grant = { granted: 1, retryAfterSeconds: 0 };
  process.once("disconnect", () => {
    for (const done of waiting.values()) done(open);
    waiting.clear();
  });
  limits.useRemote(
    (charge, want) =>
      new Promise<Grant>((resolve) => {
        if (!process.connected) return resolve(open);
        const id = ++seq;
        const timer = setTimeout(() => {
          waiting.delete(id);
          resolve(open);
        }, QUOTA_WAIT_MS);
        waiting.set(id, (g) => {
          clearTimeout(timer);
          resolve(g);
        });
        const request: QuotaRequest = { type: "quota", seq: id, charge, want };
        process.send?.(request);
      }),
    workers,
  );
}

/** In a worker: tell the primary we could not start, and why, then exit. */
export function reportStartFailed(message: string): void {
  const m: WorkerMessage = { type: "failed", message };
  if (!process.send) process.exit(1);
  process.send(m, () => process.exit(1));
}

/** On the primary: a worker serving /metrics asked for every worker's metrics. */
function answerMetrics(w: Worker, id: number): void {
  const reply = (text?: string) => {
    const m: MetricsReply =
      text === undefined ? { type: "metrics-reply", id } : { type: "metrics-reply", id, text };
    if (w.isConnected()) w.send(m);
  };
  clusterMetricsText().then(reply, () => reply());
}

const waiting = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void }>();
let nextMetricsId = 0;
let hearingReplies = false;

/**
 * In a worker: every worker's metrics, summed by the primary (what /metrics on the HTTP port
 * answers with --workers). Rejects when the primary cannot say within METRICS_WAIT_MS.
 */
export function metricsFromPrimary(): Promise<string> {
  if (!hearingReplies) {
    hearingReplies = true;
    process.on("message", onPrimaryReply);
  }
  const id = nextMetricsId++;
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(id);
      reject(new Error("the primary did not answer with metrics"));
    }, METRICS_WAIT_MS);
    timer.unref();
    waiting.set(id, {
      resolve: (text) => {
        clearTimeout(timer);
        resolve(text);
      },
      reject: (err) => {
        clearTimeout(timer);
        reject(err);
      },
    });
    const m: WorkerMessage = { type: "metrics", id };
    if (!process.connected) return waiting.get(id)?.reject(new Error("not connected to the primary"));
    process.send?.(m);
  });
}

function onPrimaryReply(message: unknown): void {
  const m = message as MetricsReply | undefined;
  if (m?.type !== "metrics-reply") return;
  const w = waiting.get(m.id);
  if (!w) return;
  waiting.delete(m.id);
  if (m.text === undefined) w.reject(new Error("a worker did not answer with its metrics"));
  else w.resolve(m.text);
}
