import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDevCa } from "../../src/auth/dev-certs.js";
import { listenHealthPort } from "../../src/transport/health-port.js";
import { runScript } from "../helpers/run-script.js";
import { startTestServer, type TestServer, tempDir } from "../helpers/server.js";

const ROOT = process.cwd();
const script = (name: string) => join(ROOT, "scripts", name);
const tmp = tempDir("tessera-packaging-");
afterAll(() => tmp.cleanup());

/** Runs a script as `node file …args` with only PATH, HOME (a temp dir) and `env`. */
const node = (file: string, args: string[], env: Record<string, string> = {}, cwd = ROOT) =>
  runScript(file, args, { home: tmp.dir, env, cwd });

describe("scripts/healthcheck.mjs (the image's HEALTHCHECK) and scripts/container.mjs", () => {
  let plain: TestServer;
  let tls: TestServer;
  const certs = join(tmp.dir, "tls");

  beforeAll(async () => {
    const ca = await createDevCa();
    const pair = await ca.issueServer();
    mkdirSync(certs);
    writeFileSync(join(certs, "server.pem"), pair.cert);
    writeFileSync(join(certs, "server-key.pem"), pair.key);
    plain = await startTestServer();
    tls = await startTestServer({
      tlsCert: join(certs, "server.pem"),
      tlsKey: join(certs, "server-key.pem"),
    });
  });
  afterAll(async () => {
    await plain?.stop();
    await tls?.stop();
  });

  it("passes against a serving HTTP port, and over HTTPS when TESSERA_TLS_CERT is set", async () => {
    expect((await node(script("healthcheck.mjs"), [], { TESSERA_HTTP_PORT: `${plain.httpPort}` })).code).toBe(
      0,
    );
    // 0.0.0.0 (the image's address) is probed on the loopback.
    const env = { TESSERA_HOST: "0.0.0.0", TESSERA_HTTP_PORT: `${tls.httpPort}`, TESSERA_TLS_CERT: "x" };
    expect((await node(script("healthcheck.mjs"), [], env)).code).toBe(0);
  });

  it("asks /livez on TESSERA_HEALTH_PORT when it is set: liveness, not readiness", async () => {
    let live = true;
    const health = await listenHealthPort("127.0.0.1", 0, () => ({ live, ready: false }));
    try {
      const env = { TESSERA_HEALTH_PORT: `${health.port}`, TESSERA_HTTP_PORT: "9" };
      // Not ready (shedding load, say) but live: healthy, so the container is not restarted.
      expect((await node(script("healthcheck.mjs"), [], env)).code).toBe(0);
      live = false;
      expect((await node(script("healthcheck.mjs"), [], env)).code).toBe(1);
    } finally {
      await health.close();
    }
  });

  it("fails when nothing answers, or the scheme is wrong", async () => {
    const closed = { TESSERA_HTTP_PORT: "9" };
    expect((await node(script("healthcheck.mjs"), [], closed)).code).toBe(1);
    expect((await node(script("healthcheck.mjs"), [], { TESSERA_HTTP_PORT: `${tls.httpPort}` })).code).toBe(
      1,
    );
  });

  it("container.mjs refuses to serve without its TLS files (exit 2, nothing written)", async () => {
    const data = join(tmp.dir, "never");
    const env = {
      TESSERA_HOST: "0.0.0.0",
      TESSERA_DATA_DIR: data,
      TESSERA_TLS_CERT: join(certs, "missing.pem"),
      TESSERA_TLS_KEY: join(certs, "server-key.pem"),
    };
    const run = await node(script("container.mjs"), ["serve"], env);
    expect(run.code).toBe(2);
    expect(existsSync(data)).toBe(false);
  });

  it("container.mjs passes any other command to the tessera CLI", async () => {
    const out = join(tmp.dir, "dev-certs");
    const run = await node(script("container.mjs"), ["certs", "dev", "--out", out, "--json"]);
    expect(run.code, run.stderr).toBe(0);
    expect(existsSync(join(out, "server-key.pem"))).toBe(true);
  });
});
