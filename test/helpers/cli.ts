import { type ChildProcess, execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";

/** The built `tessera` command (run `npm run build` first: it loads dist/). */
export const TESSERA_BIN = join(process.cwd(), "bin", "tessera.js");

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The environment a user's shell would give the CLI: PATH, a HOME of our choosing (so no real
 * ~/.tessera/config is read) and only the TESSERA_* variables passed in.
 */
export function cliEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? "", HOME: home, ...extra };
}

/** Runs `node bin/tessera.js …args` to completion (bounded by a timeout), optionally in `cwd`. */
export function runTessera(args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<CliRun> {
  return new Promise((resolve) => {
    const opts = { env, timeout: 15_000, ...(cwd ? { cwd } : {}) };
    execFile(process.execPath, [TESSERA_BIN, ...args], opts, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** What `tessera serve` printed up to its "tessera listening" log line. */
export interface ServeReady {
  readonly grpcPort: number;
  readonly httpPort: number;
  /** The health port, when --health-port was given. */
  readonly healthPort?: number | undefined;
  /** The metrics port, when --metrics-port was given. */
  readonly metricsPort?: number | undefined;
  /** The dev-org banner's `export NAME=value` lines (the banner is on stderr). */
  readonly exports: Readonly<Record<string, string>>;
}

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly ready: Promise<ServeReady>;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Everything it wrote to stdout (its JSON log lines) so far. */
  stdout(): string;
  /** Sends `signal` and resolves to the exit code (rejects if it has not exited within `ms`). */
  stop(signal?: NodeJS.Signals, ms?: number): Promise<number | null>;
}

/** Spawns `tessera serve …args` and reads its stdout until it is listening. */
export function spawnServe(
  args: string[],
  env: NodeJS.ProcessEnv,
  readyMs = 15_000,
  cwd?: string,
): ServeProcess {
  const child = spawn(process.execPath, [TESSERA_BIN, "serve", ...args], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
    ...(cwd ? { cwd } : {}),
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let stderr = "";
  child.stderr?.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  let stdout = "";
  child.stdout?.on("data", (b: Buffer) => {
    stdout += b.toString();
  });
  const exports: Record<string, string> = {};
  const errLines = createInterface({ input: child.stderr as NodeJS.ReadableStream });
  errLines.on("line", (line) => {
    const banner = /^\s*export (TESSERA_[A-Z_]+)=(\S+)$/.exec(line);
    if (banner?.[1] && banner[2]) exports[banner[1]] = banner[2];
  });
  const ready = new Promise<ServeReady>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve not ready in ${readyMs} ms: ${stderr}`)), readyMs);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}) before listening: ${stderr}`));
    });
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on("line", (line) => {
      if (!line.startsWith("{")) return;
      const log = JSON.parse(line) as {
        msg?: string;
        grpcPort?: number;
        httpPort?: number;
        healthPort?: number;
        metricsPort?: number;
        devOrg?: boolean;
      };
      if (log.msg !== "tessera listening") return;
      const done = () => {
        clearTimeout(timer);
        resolve({
          grpcPort: log.grpcPort ?? 0,
          httpPort: log.httpPort ?? 0,
          healthPort: log.healthPort,
          metricsPort: log.metricsPort,
          exports,
        });
      };
      // The banner (stderr) was written before this line (stdout), but the pipes are read apart.
      if (!log.devOrg || exports.TESSERA_ADMIN_TOKEN) return done();
      errLines.on("line", () => {
        if (exports.TESSERA_ADMIN_TOKEN) done();
      });
    });
  });
  ready.catch(() => child.kill("SIGKILL"));
  return {
    child,
    ready,
    stderr: () => stderr,
    stdout: () => stdout,
    stop(signal = "SIGTERM", ms = 5_000) {
      if (child.exitCode !== null) return Promise.resolve(child.exitCode);
      child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill("SIGKILL");
          reject(new Error(`serve did not exit within ${ms} ms of ${signal}`));
        }, ms);
      });
      return Promise.race([exited, timeout]).finally(() => clearTimeout(timer));
    },
  };
}

/** The flags that point the CLI at a test server with its dev org's admin credentials. */
export function cliFlags(server: {
  grpcPort: number;
  org: { apiKey: string; adminToken: string };
}): string[] {
  return [
    "--server",
    `http://127.0.0.1:${server.grpcPort}`,
    "--api-key",
    server.org.apiKey,
    "--admin-token",
    server.org.adminToken,
  ];
}

/** `tessera serve --workers N` on a data directory of its own, listening, with its dev org's admin headers. */
export async function spawnCluster(
  dataDir: string,
  workers = 2,
): Promise<{ serve: ServeProcess; port: number; admin: Record<string, string> }> {
  const serve = spawnServe(
    ["--data-dir", dataDir, "--grpc-port", "0", "--http-port", "0", "--workers", String(workers)],
    cliEnv(dataDir),
  );
  const ready = await serve.ready;
  const admin = {
    "x-api-key": ready.exports.TESSERA_API_KEY ?? "",
    "x-admin-token": ready.exports.TESSERA_ADMIN_TOKEN ?? "",
  };
  return { serve, port: ready.grpcPort, admin };
}
