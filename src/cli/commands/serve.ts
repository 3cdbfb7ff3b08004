import cluster from "node:cluster";
import type { Command } from "commander";
import {
  bootstrapDataDir,
  metricsFromPrimary,
  prepareDataDir,
  reportHealth,
  reportListening,
  reportStartFailed,
  runPrimary,
  useClusterQuota,
  WorkerHealth,
} from "../../cluster.js";
import { type Config, type ConfigInput, loadConfig } from "../../config/config.js";
import { devCredentialsPath, readDevCredentials, writeDevCredentials } from "../../config/dev-credentials.js";
import type { NewOrg } from "../../core/bootstrap.js";
import { limitHeapGrowth } from "../../core/heap.js";
import { createLogger, type Logger, resolveLogFormat } from "../../log.js";
import { readTlsOrRefuse, startTessera } from "../../main.js";
import { answerClusterScrapes, clusterMetricsText, METRICS_CONTENT_TYPE } from "../../observe/metrics.js";
import { checkEnvOf, enforceProduction, ProductionRefusal, productionConfig } from "../../ops/production.js";
import { setInternalErrorLogger } from "../../rpc/errors.js";
import type { CallObserver } from "../../rpc/request-log.js";
import { dispatchConnections } from "../../transport/connection-dispatch.js";
import type { HealthPort, HealthReport } from "../../transport/health-port.js";
import { grpcListenError, listenHealth, listenMetrics } from "../../transport/listen.js";
import { CliError, EXIT } from "../output.js";
import { addSettingFlags } from "./serve-options.js";

/** True once `serve` is up: the process must keep running after the CLI returns. */
let serving = false;
export function isServing(): boolean {
  return serving;
}

function devOrgBanner(org: NewOrg, server: string, path: string): string {
  return [
    "",
    "  A development org was created. Its credentials (also saved, readable by you only, in",
    `  ${path}, where the tessera CLI finds them when nothing else is configured):`,
    "",
    `    export TESSERA_SERVER=${server}`,
    `    export TESSERA_API_KEY=${org.apiKey}`,
    `    export TESSERA_ADMIN_TOKEN=${org.adminToken}`,
    "",
    `  org id: ${org.orgId}`,
    "  An example policy is loaded (tessera policy list). Try the walk-through in README.md.",
    "",
  ].join("\n");
}

/** The banner on stderr (logs go to stdout) and the credentials file, or where an older one is. */
interface Ports {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly healthPort?: number | undefined;
  readonly metricsPort?: number | undefined;
}

/** The health port when --health-port is set (bound before anything else starts). */
function healthPort(config: Config, report: () => HealthReport): Promise<HealthPort | undefined> {
  if (config.healthPort === undefined) return Promise.resolve(undefined);
  return listenHealth(config.host, config.healthPort, report, readTlsOrRefuse(config));
}

/** The metrics port when --metrics-port is set (bound, like the health port, before anything else starts). */
function metricsPort(config: Config, text: () => Promise<string>): Promise<HealthPort | undefined> {
  if (config.metricsPort === undefined) return Promise.resolve(undefined);
  const source = () => text().then((t) => ({ contentType: METRICS_CONTENT_TYPE, text: t }));
  return listenMetrics(config.host, config.metricsPort, source, readTlsOrRefuse(config));
}

function announce(config: Config, log: Logger, ports: Ports, org?: NewOrg) {
  const scheme = config.tls ? "https" : "http";
  // A wildcard address is where the server listens, not one a client can call.
  const reachable = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host;
  const host = reachable.includes(":") ? `[${reachable}]` : reachable;
  const server = `${scheme}://${host}:${ports.grpcPort}`;
  if (org) {
    const http = `${scheme}://${host}:${ports.httpPort}`;
    const path = writeDevCredentials(config.dataDir, { ...org, server, http });
    process.stderr.write(`${devOrgBanner(org, server, path)}\n`);
  } else if (readDevCredentials(config.dataDir)) {
    log.info(
      { credentials: devCredentialsPath(config.dataDir) },
      "the development org's credentials are in this file; to start afresh, stop the server and delete the data directory",
    );
  }
  // Named fields only: spreading an object here once logged the core's state, master key included.
  log.info(
    {
      grpcPort: ports.grpcPort,
      httpPort: ports.httpPort,
      healthPort: ports.healthPort,
      metricsPort: ports.metricsPort,
      host: config.host,
      dataDir: config.dataDir,
      workers: config.workers,
      tls: Boolean(config.tls),
      mtls: Boolean(config.tls?.clientCaFile),
      devOrg: Boolean(org),
    },
    "tessera listening",
  );
}

function warnWithoutMasterKey(config: Config, log: Logger): void {
  if (config.masterKey || !cluster.isPrimary) return;
  log.warn(
    { setting: "TESSERA_MASTER_KEY" },
    "NO MASTER KEY: signing private keys are stored unencrypted in the data directory. " +
      "Fine for development; in production set TESSERA_MASTER_KEY (32 bytes, base64: openssl rand -base64 32)",
  );
}

/** A worker or single process: start, report, and drain on SIGTERM/SIGINT. */
async function runServer(config: Config, log: Logger): Promise<void> {
  limitHeapGrowth();
  let running: Awaited<ReturnType<typeof startTessera>> | undefined;
  // A single process answers its own health port (a worker leaves it to the primary).
  const health = cluster.isWorker
    ? undefined
    : await healthPort(config, () => ({ live: true, ready: running?.ready() ?? false }));
  // A worker answers the primary's scrapes at once (empty until it has metrics), so one still
  // starting does not stall them.
  if (cluster.isWorker) answerClusterScrapes();
  const metrics = cluster.isWorker
    ? undefined
    : await metricsPort(config, () => running?.metrics?.text() ?? Promise.reject(new Error("no metrics")));
  try {
    running = await startTessera(config, {
      onSyncError: (err) => log.error({ err }, "applying a change failed"),
      observeCall: requestLog(log),
      onSlowCall: (call) => log.warn(call, "slow call"),
      // With --workers, /metrics on the HTTP port answers for the whole server.
      metricsText: cluster.isWorker ? () => metricsFromPrimary() : undefined,
      workerId: cluster.worker?.id ?? 0,
      grpcFromPrimary: cluster.isWorker,
    });
  } catch (err) {
    await health?.close();
    await metrics?.close();
    // A worker leaves the telling to the primary, which stops the whole server once.
    if (cluster.isWorker) return reportStartFailed(err instanceof Error ? err.message : String(err));
    throw err;
  }
  const started = running;
  serving = true;
  // A credential used from a new source: its id and the source, never the secret.
  started.tessera.usage.tellNewSources((e) =>
    log.info(
      { org: e.orgId, credential: e.credential, source: e.source },
      "credential used from a new source",
    ),
  );
  if (cluster.isWorker) {
    answerClusterScrapes(started.metrics);
    // Rate limits hold for the whole server: their buckets live in the primary.
    useClusterQuota(started.tessera.rateLimits, config.workers);
    reportListening(started.grpcPort, started.httpPort);
    reportHealth(() => started.ready());
  } else {
    const ports = {
      grpcPort: started.grpcPort,
      httpPort: started.httpPort,
      healthPort: health?.port,
      metricsPort: metrics?.port,
    };
    announce(config, log, ports, started.devOrg);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "draining and shutting down");
    started
      .close()
      .then(() => health?.close())
      .then(() => metrics?.close())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, "shutdown failed");
          process.exit(1);
        },
      );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

/** Logs as `--log-format` says; colour only when a person is watching. */
function serveLogger(config: Config): Logger {
  const terminal = process.stdout.isTTY === true;
  const format = resolveLogFormat(config.logFormat, terminal);
  return createLogger({ level: config.logLevel, format, color: format === "pretty" && terminal });
}

/** At debug level, one line per call (and per admin action); otherwise nothing is wrapped. */
function requestLog(log: Logger): CallObserver | undefined {
  if (!log.isLevelEnabled("debug")) return undefined;
  return ({ kind, ...fields }) => log.debug(fields, kind);
}

/** In production mode, the whole checklist must pass: else every failure, at once, and exit 2. */
function refuseUnlessProductionReady(config: Config, flags: ConfigInput): void {
  try {
    enforceProduction(config, checkEnvOf(flags));
  } catch (err) {
    if (!(err instanceof ProductionRefusal)) throw err;
    const shape = { code: "FailedPrecondition", reason: "PRODUCTION_CHECKS_FAILED", message: err.message };
    throw new CliError(shape, EXIT.usage);
  }
}

export function registerServe(program: Command): void {
  const serve = program.command("serve").description("run the Tessera server (gRPC and HTTP ports)");
  const settingsOf = addSettingFlags(serve);
  serve.addHelpText("after", "\nEvery setting, its variable and its config-file key: docs/config.md");
  serve.action(async (o: Record<string, unknown>) => {
    const flags = settingsOf(o);
    const loaded = productionConfig(loadConfig(flags));
    // Only the primary (or a single process) checks production readiness, before anything starts.
    if (cluster.isPrimary) refuseUnlessProductionReady(loaded, flags);
    // Only the primary (or a single process) creates the development org, whatever the flags say.
    const config: Config = cluster.isWorker ? { ...loaded, bootstrapDevOrg: false } : loaded;
    const log = serveLogger(config);
    setInternalErrorLogger((err) => log.error({ err }, "internal error"));
    warnWithoutMasterKey(config, log);
    if (config.workers === 1 || cluster.isWorker) return runServer(config, log);
    await prepareDataDir(config);
    const workers = new WorkerHealth();
    const health = await healthPort(config, () => workers.report());
    const metrics = await metricsPort(config, clusterMetricsText);
    serving = true;
    const primaryEvents = {
      onListening: (ports: Ports) => {
        bootstrapDataDir(config).then(
          (org) =>
            announce(config, log, { ...ports, healthPort: health?.port, metricsPort: metrics?.port }, org),
          (err: unknown) => log.error({ err }, "creating the development org failed"),
        );
      },
      onStartFailed: (message: string) => {
        process.stderr.write(`error: ${message}\n`);
        process.exitCode = EXIT.failed;
      },
    };
    // The gRPC port is the primary's: it deals connections to the workers in turn.
    const grpc = await dispatchConnections(config.host, config.grpcPort).catch((err: unknown) => {
      throw grpcListenError(config.host, config.grpcPort, err);
    });
    runPrimary(config, log, primaryEvents, grpc, workers);
  });
}
