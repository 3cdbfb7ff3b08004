import { existsSync, readFileSync, statSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/store.js";
import { cliEnv, runTessera, spawnServe } from "../helpers/cli.js";
import { tempDir } from "../helpers/server.js";

/** Issue #10: `serve` fails fast and honestly, and the first start's credentials cannot be lost. */
describe("tessera serve: refusals exit 2 with one line naming the flag", () => {
  let home: ReturnType<typeof tempDir>;
  beforeAll(() => {
    home = tempDir("tessera-serve-usage-");
  });
  afterAll(() => home.cleanup());

  it.each([
    [["--workers", "0"], /workers/],
    [["--grpc-port", "99999"], /--grpc-port/],
    [["--bogus"], /--bogus/],
    [["--config", "/nope.yaml"], /\/nope\.yaml/],
    [["--tls-cert", "/nope/cert.pem", "--tls-key", "/nope/key.pem"], /--tls-cert \/nope\/cert\.pem/],
    [["--tls-cert", "/nope/cert.pem", "--tls-key", "/nope/key.pem", "--workers", "2"], /--tls-cert/],
  ])("serve %j", async (args, names) => {
    const run = await runTessera(["serve", "--data-dir", join(home.dir, "data"), ...args], cliEnv(home.dir));
    expect(run.code).toBe(2);
    expect(run.stderr.split("\n")[0]).toMatch(names);
    // Nothing was started or created.
    expect(existsSync(join(home.dir, "data"))).toBe(false);
  });
});

describe("tessera serve: a port in use", () => {
  let blocker: Server;
  let port = 0;
  beforeAll(async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    port = (blocker.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => blocker.close(() => resolve())));

  it.each([
    ["--grpc-port", "--http-port", "1"],
    ["--http-port", "--grpc-port", "1"],
    ["--http-port", "--grpc-port", "2"],
  ])(
    "taken by %s: exits non-zero at once, names the flag, creates no org (workers %s)",
    async (taken, free, workers) => {
      const home = tempDir("tessera-port-");
      try {
        const data = join(home.dir, "data");
        const args = ["serve", "--data-dir", data, taken, String(port), free, "0", "--workers", workers];
        const run = await runTessera(args, cliEnv(home.dir));
        expect(run.code).toBe(1);
        expect(run.stderr).toContain(`${taken} (TESSERA_`);
        expect(run.stderr).not.toContain("INTERNAL");
        expect(existsSync(join(data, "dev-credentials.json"))).toBe(false);
        const store = openStore(data);
        try {
          expect(store.orgs.countOrgs()).toBe(0);
        } finally {
          void store.close();
        }
      } finally {
        home.cleanup();
      }
    },
  );
});

describe("tessera serve: the first start's credentials", () => {
  it("prints the banner on stderr, keeps them in a 0600 file the CLI reads, and says where on later starts", async () => {
    const home = tempDir("tessera-first-");
    const env = cliEnv(home.dir);
    const args = ["--grpc-port", "0", "--http-port", "0", "--workers", "1"];
    try {
      const first = spawnServe(args, env, 15_000, home.dir);
      let stdout = "";
      first.child.stdout?.on("data", (b: Buffer) => {
        stdout += b.toString();
      });
      const ready = await first.ready;
      const file = join(home.dir, "data", "dev-credentials.json");
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const saved = JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
      expect(saved).toMatchObject({
        apiKey: ready.exports.TESSERA_API_KEY,
        adminToken: ready.exports.TESSERA_ADMIN_TOKEN,
        server: `http://127.0.0.1:${ready.grpcPort}`,
        http: `http://127.0.0.1:${ready.httpPort}`,
      });
      expect(saved.orgId).toMatch(/^org_/);
      expect(first.stderr()).toContain(saved.orgId);
      // Logs (stdout) never carry the credentials.
      expect(stdout).not.toContain(saved.adminToken);
      // With nothing configured, the CLI in that directory uses them.
      const list = await runTessera(["policy", "list", "--json"], env, home.dir);
      expect(list.code, list.stderr).toBe(0);
      expect(JSON.parse(list.stdout)).toMatchObject({ policies: [{ name: "example" }] });
      expect(await first.stop()).toBe(0);

      const again = spawnServe(args, env, 15_000, home.dir);
      let later = "";
      again.child.stdout?.on("data", (b: Buffer) => {
        later += b.toString();
      });
      await again.ready;
      expect(again.stderr()).not.toContain("export TESSERA_API_KEY");
      expect(later).toContain("dev-credentials.json");
      expect(await again.stop()).toBe(0);
    } finally {
      home.cleanup();
    }
  });
});
