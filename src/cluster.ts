import cluster, { type Worker } from "node:cluster";
import type { Config } from "./config/config.js";
import { createOrg, EXAMPLE_POLICY, type NewOrg } from "./core/bootstrap.js";
import { buildTessera } from "./core/tessera.js";
import type { Logger } from "./log.js";
import { openStore } from "./store/store.js";

/** What a worker tells the primary once it listens. */
interface ListeningMessage {
  readonly type: "listening";
  readonly grpcPort: number;
  readonly httpPort: number;
}

/**
 * Prepares the data directory once, before any worker starts, so workers never race to
 * create the first signing key or the development org.
 */
export async function prepareDataDir(config: Config): Promise<NewOrg | undefined> {
  const store = openStore(config.dataDir);
  try {
    // No decisions are made here: the primary only prepares the directory.
    const t = await buildTessera(store, { ...config, decisionLog: false });
    if (!config.bootstrapDevOrg || store.orgs.countOrgs() > 0) return undefined;
    const org = createOrg(store, "development", new Date());
    t.policies.putTrusted(org.orgId, EXAMPLE_POLICY, "example.yaml");
    return org;
  } finally {
    store.close();
  }
}

export interface PrimaryEvents {
  /** Every worker listens; ports are the shared ones. */
  onListening(ports: { grpcPort: number; httpPort: number }): void;
}

/**
 * Runs the cluster primary: forks `config.workers` workers (each a full server on the shared
 * ports), replaces one that dies, and on SIGTERM/SIGINT drains them all before exiting.
 */
export function runPrimary(config: Config, log: Logger, events: PrimaryEvents): void {
  let stopping = false;
  let ready = 0;
  const env = { TESSERA_BOOTSTRAP_DEV_ORG: "false" };
  const fork = (): Worker => {
    const w = cluster.fork(env);
    w.on("message", (m: ListeningMessage) => {
      if (m?.type !== "listening") return;
      ready++;
      if (ready === config.workers) events.onListening({ grpcPort: m.grpcPort, httpPort: m.httpPort });
    });
    return w;
  };
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    log.error({ pid: worker.process.pid, code, signal }, "worker died; starting a replacement");
    setTimeout(fork, 500);
  });
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "draining workers and shutting down");
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGTERM");
    setTimeout(() => process.exit(1), 15_000).unref();
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  for (let i = 0; i < config.workers; i++) fork();
}

/** In a worker: tell the primary which ports we listen on. */
export function reportListening(grpcPort: number, httpPort: number): void {
  const message: ListeningMessage = { type: "listening", grpcPort, httpPort };
  process.send?.(message);
}
