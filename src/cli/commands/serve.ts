import cluster from "node:cluster";
import type { Command } from "commander";
import { prepareDataDir, reportListening, runPrimary } from "../../cluster.js";
import { loadConfig } from "../../config/config.js";
import type { NewOrg } from "../../core/bootstrap.js";
import { createLogger } from "../../log.js";
import { startTessera } from "../../main.js";
import { setInternalErrorLogger } from "../../rpc/errors.js";

function devOrgBanner(org: NewOrg, grpcPort: number): string {
  return [
    "",
    "  A development org was created. Its credentials are shown this once; store them now:",
    "",
    `    export TESSERA_SERVER=http://127.0.0.1:${grpcPort}`,
    `    export TESSERA_API_KEY=${org.apiKey}`,
    `    export TESSERA_ADMIN_TOKEN=${org.adminToken}`,
    "",
    "  An example policy is loaded (tessera policy list). Try the walk-through in README.md.",
    "",
  ].join("\n");
}

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("run the Tessera server (gRPC and HTTP ports)")
    .option("--config <file>", "YAML config file (TESSERA_CONFIG)")
    .option("--data-dir <dir>", "where the SQLite database lives (TESSERA_DATA_DIR)", undefined)
    .option("--host <address>", "address to bind; non-loopback needs TLS (TESSERA_HOST)")
    .option("--grpc-port <port>", "gRPC port (TESSERA_GRPC_PORT, default 50051)")
    .option(
      "--http-port <port>",
      "HTTP port for Connect, gRPC-Web, JWKS, health (TESSERA_HTTP_PORT, default 8080)",
    )
    .option("--tls-cert <file>", "server certificate PEM (TESSERA_TLS_CERT)")
    .option("--tls-key <file>", "server private key PEM (TESSERA_TLS_KEY)")
    .option(
      "--tls-client-ca <file>",
      "require client certificates signed by this CA on the gRPC port (TESSERA_TLS_CLIENT_CA)",
    )
    .option("--max-token-ttl <duration>", "longest token lifetime MintToken grants (default 1h)")
    .option("--workers <n>", "server processes sharing the ports (TESSERA_WORKERS, default: one per core)")
    .option(
      "--log-level <level>",
      "trace | debug | info | warn | error | silent (TESSERA_LOG_LEVEL, default info)",
    )
    .option("--no-bootstrap-dev-org", "do not create a development org on first start")
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const config = loadConfig({
        config: o.config as string | undefined,
        dataDir: o.dataDir as string | undefined,
        host: o.host as string | undefined,
        grpcPort: o.grpcPort as string | undefined,
        httpPort: o.httpPort as string | undefined,
        tlsCert: o.tlsCert as string | undefined,
        tlsKey: o.tlsKey as string | undefined,
        tlsClientCa: o.tlsClientCa as string | undefined,
        maxTokenTtlSeconds: o.maxTokenTtl as string | undefined,
        logLevel: o.logLevel as string | undefined,
        workers: o.workers as string | undefined,
        ...(o.bootstrapDevOrg === false ? { bootstrapDevOrg: false } : {}),
      });
      const log = createLogger(config.logLevel);
      setInternalErrorLogger((err) => log.error({ err }, "internal error"));
      if (!config.masterKey && cluster.isPrimary) {
        log.warn(
          { setting: "TESSERA_MASTER_KEY" },
          "NO MASTER KEY: signing private keys are stored unencrypted in the data directory. " +
            "Fine for development; in production set TESSERA_MASTER_KEY (32 bytes, base64: openssl rand -base64 32)",
        );
      }
      const listening = (ports: { grpcPort: number; httpPort: number }, devOrg: NewOrg | undefined) => {
        if (devOrg) process.stdout.write(`${devOrgBanner(devOrg, ports.grpcPort)}\n`);
        const tls = Boolean(config.tls);
        const mtls = Boolean(config.tls?.clientCaFile);
        log.info(
          { ...ports, host: config.host, dataDir: config.dataDir, workers: config.workers, tls, mtls },
          "tessera listening",
        );
      };
      if (config.workers > 1 && cluster.isPrimary) {
        const devOrg = await prepareDataDir(config);
        runPrimary(config, log, { onListening: (ports) => listening(ports, devOrg) });
        return;
      }
      const running = await startTessera(config, {
        onSyncError: (err) => log.error({ err }, "applying a change failed"),
      });
      if (cluster.isWorker) reportListening(running.grpcPort, running.httpPort);
      else listening({ grpcPort: running.grpcPort, httpPort: running.httpPort }, running.devOrg);
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, "draining and shutting down");
        running.close().then(
          () => process.exit(0),
          (err: unknown) => {
            log.error({ err }, "shutdown failed");
            process.exit(1);
          },
        );
      };
      process.on("SIGINT", () => stop("SIGINT"));
      process.on("SIGTERM", () => stop("SIGTERM"));
    });
}
