import { existsSync } from "node:fs";
import * as http from "node:http";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, type ServeProcess, spawnServe } from "../helpers/cli.js";
import { childrenOf } from "../helpers/processes.js";
import { tempDir } from "../helpers/server.js";

/** GET `path`: the status and JSON body, or "no answer" after `ms`. */
function get(
  port: number,
  path: string,
  ms = 2_000,
): Promise<{ status: number; body: Record<string, unknown> } | "no answer"> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let text = "";
      res.on("data", (b: Buffer) => {
        text += b.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || "{}") }));
    });
    req.setTimeout(ms, () => {
      req.destroy();
      resolve("no answer");
    });
    req.on("error", () => resolve("no answer"));
  });
}

async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`${what}: still ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const serveArgs = (dir: string, ...more: string[]) => [
  "--data-dir",
  dir,
  "--grpc-port",
  "0",
  "--http-port",
  "0",
  "--health-port",
  "0",
  ...more,
];

/**
 * Issue #11: health must be answered on a path load cannot starve. The HTTP port's /healthz
 * waits in its worker's event loop behind the calls (3 s under a crowd); with --workers the
 * primary, which answers no call, serves the health port from its workers' reports.
 */
describe("the health port, served by the cluster primary", () => {
  const tmp = tempDir();
  let serve: ServeProcess;
  let healthPort = 0;
  let httpPort = 0;
  beforeAll(async () => {
    serve = spawnServe(serveArgs(tmp.dir, "--workers", "2"), cliEnv(tmp.dir));
    const ready = await serve.ready;
    healthPort = ready.healthPort ?? 0;
    httpPort = ready.httpPort;
    expect(healthPort).toBeGreaterThan(0);
  });
  afterAll(async () => {
    for (const pid of childrenOf(serve.child.pid ?? 0)) process.kill(pid, "SIGCONT");
    await serve.stop();
    tmp.cleanup();
  });

  it("says both workers are ready and live, and answers nothing else", async () => {
    const ready = await until(
      "both workers ready",
      () => get(healthPort, "/readyz"),
      (r) => r !== "no answer" && r.body.ready === 2,
    );
    expect(ready).toMatchObject({
      status: 200,
      body: { status: "SERVING", workers: 2, ready: 2, silent: 0 },
    });
    expect(await get(healthPort, "/livez")).toMatchObject({ status: 200, body: { status: "SERVING" } });
    expect(await get(healthPort, "/healthz")).toMatchObject({ status: 200 });
    expect(await get(healthPort, "/.well-known/jwks.json")).toMatchObject({ status: 404 });
    expect(await get(healthPort, "/tessera.v1.AuthService/WhoAmI")).toMatchObject({ status: 404 });
  });

  it("answers at once while every worker's event loop is held, where the HTTP port's /healthz cannot", async () => {
    const workers = childrenOf(serve.child.pid ?? 0);
    expect(workers).toHaveLength(2);
    for (const pid of workers) process.kill(pid, "SIGSTOP");
    try {
      const started = Date.now();
      expect(await get(healthPort, "/livez", 1_000)).toMatchObject({ status: 200 });
      expect(await get(healthPort, "/readyz", 1_000)).toMatchObject({ status: 200 });
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(await get(httpPort, "/healthz", 1_000)).toBe("no answer");
    } finally {
      for (const pid of workers) process.kill(pid, "SIGCONT");
    }
  });

  it("counts a killed worker out at once, and its replacement in once it listens", async () => {
    const [victim] = childrenOf(serve.child.pid ?? 0);
    process.kill(victim as number, "SIGKILL");
    const one = await until(
      "the dead worker counted out",
      () => get(healthPort, "/readyz"),
      (r) => r !== "no answer" && r.body.workers === 1,
    );
    expect(one).toMatchObject({ status: 200, body: { ready: 1 } });
    const two = await until(
      "the replacement counted in",
      () => get(healthPort, "/readyz"),
      (r) => r !== "no answer" && r.body.ready === 2,
    );
    expect(two).toMatchObject({ status: 200, body: { workers: 2 } });
  });
});

describe("the health port of a single process", () => {
  it("answers from the process itself", async () => {
    const tmp = tempDir();
    const serve = spawnServe(serveArgs(tmp.dir), cliEnv(tmp.dir));
    try {
      const { healthPort } = await serve.ready;
      expect(await get(healthPort ?? 0, "/readyz")).toMatchObject({
        status: 200,
        body: { status: "SERVING" },
      });
      expect(await get(healthPort ?? 0, "/livez")).toMatchObject({ status: 200 });
    } finally {
      await serve.stop();
      tmp.cleanup();
    }
  });

  it("a health port in use: exit 1 naming --health-port, and no org created", async () => {
    const tmp = tempDir();
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", () => resolve()));
    const port = (taken.address() as { port: number }).port;
    try {
      for (const workers of [[], ["--workers", "2"]]) {
        const serve = spawnServe(
          [
            "--data-dir",
            tmp.dir,
            "--grpc-port",
            "0",
            "--http-port",
            "0",
            "--health-port",
            String(port),
            ...workers,
          ],
          cliEnv(tmp.dir),
        );
        await expect(serve.ready).rejects.toThrow();
        expect(await serve.stop()).toBe(1);
        expect(serve.stderr()).toContain("--health-port");
        expect(existsSync(join(tmp.dir, "dev-credentials.json"))).toBe(false);
      }
    } finally {
      taken.close();
      tmp.cleanup();
    }
  });
});
