import { type Config, ConfigError } from "./config/config.js";
import { createFirstOrg, EXAMPLE_POLICY, type NewOrg } from "./core/bootstrap.js";
import { runMaintenance, startMaintenance } from "./core/maintenance.js";
import { startSync } from "./core/sync.js";
import { buildTessera, type Tessera } from "./core/tessera.js";
import { CallMeter, type SlowCall } from "./observe/call-meter.js";
import { METRICS_CONTENT_TYPE, Metrics } from "./observe/metrics.js";
import { tesseraMetricSources } from "./observe/sources.js";
import type { CallObserver } from "./rpc/request-log.js";
import type { TesseraStore } from "./store/contract/store.js";
import { openTesseraStore } from "./store/open.js";
import { closeHttpServer } from "./transport/http-server.js";
import { listenBoth, listenHandedGrpc } from "./transport/listen.js";
import { createServers } from "./transport/servers.js";
import { grpcServerCredentials, readTls, type TlsMaterial } from "./transport/tls.js";

/** A started Tessera: its bound ports, and how to stop it. */
export interface RunningTessera {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly tessera: Tessera;
  /** Credentials of the development org created on this start, if one was. */
  readonly devOrg: NewOrg | undefined;
  /** This process's metrics; undefined with `metrics: false`. */
  readonly metrics: Metrics | undefined;
  /** Readiness: SERVING on both ports (not shedding load, not spilling decisions, not stopping). */
  ready(): boolean;
  /** Stops accepting calls, lets in-flight ones finish, then closes the database. */
  close(): Promise<void>;
}

/**
 * On first start with an empty database, a development org with the example policy. Called
 * only once the ports are bound: a start that fails leaves no org behind.
 */
export async function bootstrapDevOrg(
  store: TesseraStore,
  t: Tessera,
  config: Config,
): Promise<NewOrg | undefined> {
  if (!config.bootstrapDevOrg || (await store.orgs.countOrgs()) > 0) return undefined;
  const org = await createFirstOrg(store, "development", new Date());
  if (!org) return undefined; // another replica starting at the same moment made it
  await t.credentials.reload();
  await t.policies.putTrusted(org.orgId, EXAMPLE_POLICY, "example.yaml");
  return org;
}

/** The TLS files, read; a ConfigError naming the flag when one cannot be. */
export function readTlsOrRefuse(config: Config): TlsMaterial | undefined {
  if (!config.tls) return undefined;
  try {
    return readTls(config.tls);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "";
    const path = (err as NodeJS.ErrnoException).path ?? "";
    const flag =
      path === config.tls.certFile
        ? "--tls-cert"
        : path === config.tls.keyFile
          ? "--tls-key"
          : "--tls-client-ca";
    throw new ConfigError(
      `cannot read ${flag} ${path}: ${code === "ENOENT" ? "no such file" : code || String(err)}`,
    );
  }
}

export interface StartOptions {
  /** Called when applying another process's change fails (it is retried). */
  readonly onSyncError?: (err: unknown) => void;
  /** Told of every call once answered (the request log, at debug level). */
  readonly observeCall?: CallObserver | undefined;
  /** Told of every call slower than `slowCallMs` (the slow-call log line). */
  readonly onSlowCall?: ((call: SlowCall) => void) | undefined;
  /**
   * What /metrics on the HTTP port answers; this process's own metrics by default. A cluster
   * worker asks the primary instead, for every worker's metrics summed.
   */
  readonly metricsText?: ((own: Metrics) => Promise<string>) | undefined;
  /** This process's cluster worker id (serve --workers N), as GetServerStatus reports it; 0 (default) for a single process. */
  readonly workerId?: number | undefined;
  /** A cluster worker: the primary holds the gRPC port and hands each connection over. */
  readonly grpcFromPrimary?: boolean | undefined;
}

/** Rotates the signing key when it is due; every process asks, one rotates (the ring guards it). */
function startKeyRotation(
  t: Tessera,
  config: Config,
  onError: ((err: unknown) => void) | undefined,
): () => void {
  if (config.keyRotationIntervalSeconds <= 0) return () => {};
  const timer = setInterval(() => {
    t.keys.rotateIfDue().catch((err: unknown) => onError?.(err));
  }, 60_000);
  timer.unref();
  return () => clearInterval(timer);
}

/** The composition root: loadConfig's result → store → core → servers → listening. */
export async function startTessera(config: Config, opts: StartOptions = {}): Promise<RunningTessera> {
  // Read first: a missing or unreadable file is a configuration mistake, refused before any
  // file of the data directory is created.
  const tls = readTlsOrRefuse(config);
  const store = await openTesseraStore(config);
  try {
    const tessera = await buildTessera(
      store,
      { ...config, workerId: opts.workerId },
      undefined,
      opts.onSyncError,
    );
    // Timing is kept for the slow-call log even with metrics off.
    const meter =
      config.metrics || config.slowCallMs > 0
        ? new CallMeter({ slowCallMs: config.slowCallMs, onSlow: opts.onSlowCall })
        : undefined;
    const metrics = config.metrics ? new Metrics(tesseraMetricSources(tessera, meter)) : undefined;
    if (metrics) tessera.decisionLog?.onWritten((_, seconds) => metrics.batchWritten(seconds));
    const metricsText = opts.metricsText ?? ((own: Metrics) => own.text());
    const servers = createServers(tessera, {
      meter,
      metrics: metrics
        ? () => metricsText(metrics).then((text) => ({ contentType: METRICS_CONTENT_TYPE, text }))
        : undefined,
      maxMessageBytes: config.maxMessageBytes,
      tls,
      observeCall: opts.observeCall,
      admission: { maxInFlight: config.maxInFlight, maxLagMs: config.maxEventLoopLagMs },
      limits: { maxStreamsPerWorker: config.maxStreams, maxConnections: config.maxConnections },
      corsOrigins: config.corsOrigins,
    });
    let ports: { grpcPort: number; httpPort: number };
    try {
      ports = opts.grpcFromPrimary
        ? await listenHandedGrpc(servers, config, grpcServerCredentials(tls), config.maxConnections)
        : await listenBoth(servers, config, grpcServerCredentials(tls));
    } catch (err) {
      await tessera.decisionLog?.close();
      throw err;
    }
    const { grpcPort, httpPort } = ports;
    const devOrg = await bootstrapDevOrg(store, tessera, config);
    const sync = startSync(
      store,
      {
        engine: tessera.engine,
        credentials: tessera.credentials,
        identities: tessera.boundIdentities,
        liveness: tessera.liveness,
        verifiable: [tessera.orgTrust, tessera.boundIdentities],
        others: {
          agent: (c) => {
            if (c.ref) tessera.agentCache.forget(c.ref);
            return tessera.liveness.apply(c);
          },
          token_revoked: (c) => tessera.liveness.apply(c),
          keys: () => tessera.keys.reload(),
          trust: () => tessera.orgTrust.reload(),
        },
      },
      {
        onError: opts.onSyncError,
        from: tessera.syncFrom,
        maxStalenessMs: config.maxStalenessSeconds * 1000,
        // Deciding from memory goes on; readiness says this replica may be behind.
        onFreshness: (fresh) => servers.health.setReady("store", fresh),
      },
    );
    const stopRotation = startKeyRotation(tessera, config, opts.onSyncError);
    const stopAdmission = servers.startAdmission();
    const stopUsage = tessera.usage.start(opts.onSyncError);
    const stopMaintenance = startMaintenance(
      () =>
        runMaintenance(
          store,
          tessera.liveness,
          {
            tombstoneSeconds: config.maxTokenTtlSeconds + config.clockToleranceSeconds,
            decisionRetentionSeconds: config.decisionRetentionSeconds,
          },
          () => new Date(),
        ),
      opts.onSyncError,
    );
    // Readiness: NOT_SERVING while the decision log spills to a file instead of the database.
    const unwatchLog = tessera.decisionLog?.onSpilling((spilling) =>
      servers.health.setReady("decision-log", !spilling),
    );
    const close = async (): Promise<void> => {
      sync.stop();
      stopRotation();
      stopAdmission();
      stopMaintenance();
      unwatchLog?.();
      servers.health.shutdown();
      // No caller may wait on the log while the servers drain: close() below bounds the rest.
      tessera.decisionLog?.stopBackpressure();
      await Promise.all([
        new Promise<void>((resolve) => servers.grpc.tryShutdown(() => resolve())),
        closeHttpServer(servers.http),
      ]);
      // In-flight calls are done: write every decision they made before the database closes.
      await tessera.decisionLog?.close();
      await tessera.policies.close();
      // The calls are done: their usage counts are written before the database closes.
      await stopUsage();
      await store.close();
    };
    return { grpcPort, httpPort, tessera, devOrg, metrics, ready: servers.ready, close };
  } catch (err) {
    await store.close();
    throw err;
  }
}
