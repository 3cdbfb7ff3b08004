import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import * as https from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDevCa, type DevCa } from "../../src/auth/dev-certs.js";
import { openStore } from "../../src/store/store.js";
import { cliEnv, runTessera, spawnServe } from "../helpers/cli.js";
import { tempDir } from "../helpers/server.js";

/** GET over TLS trusting `ca`: the status code and body. */
function httpsGet(port: number, path: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      { host: "127.0.0.1", port, path, ca, servername: "localhost", agent: false, timeout: 5_000 },
      (res) => {
        let body = "";
        res.on("data", (b: Buffer) => {
          body += b.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer")));
    req.on("error", reject);
  });
}

/** A file with an exact mode, whatever the umask. */
function write(path: string, text: string, mode: number): string {
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

/** Issue #13, production mode: `tessera serve --mode production` and `tessera doctor`, built. Needs `npm run build`. */
describe("tessera serve --mode production", () => {
  let home: ReturnType<typeof tempDir>;
  let ca: DevCa;
  let certs: { cert: string; key: string; keyOpen: string; ca: string };

  beforeAll(async () => {
    home = tempDir("tessera-production-");
    ca = await createDevCa();
    const server = await ca.issueServer();
    const dir = join(home.dir, "certs");
    mkdirSync(dir, { mode: 0o700 });
    certs = {
      cert: write(join(dir, "server.pem"), server.cert, 0o644),
      key: write(join(dir, "server-key.pem"), server.key, 0o600),
      // The same key, left readable by everyone.
      keyOpen: write(join(dir, "server-key-open.pem"), server.key, 0o644),
      ca: write(join(dir, "ca.pem"), ca.cert, 0o644),
    };
  });
  afterAll(() => home?.cleanup());

  /** A data directory a development start has used: it holds the development org and its example policy. */
  async function developmentDataDir(name: string): Promise<string> {
    const data = join(home.dir, name);
    const dev = spawnServe(
      ["--data-dir", data, "--grpc-port", "0", "--http-port", "0", "--workers", "1"],
      cliEnv(home.dir),
    );
    const ready = await dev.ready;
    expect(ready.exports.TESSERA_ADMIN_TOKEN).toBeDefined();
    // Only the data directory it leaves matters here (its exit is serve-start.test.ts's concern).
    await dev.stop("SIGTERM", 20_000);
    return data;
  }

  /** The flags of a bad production configuration over a development data directory (made once). */
  let badArgs: Promise<string[]> | undefined;
  function bad(): Promise<string[]> {
    badArgs ??= developmentDataDir("dev-data").then((data) => {
      chmodSync(data, 0o755);
      return badFlags(data);
    });
    return badArgs;
  }
  const badFlags = (data: string) => [
    "serve",
    "--mode",
    "production",
    "--data-dir",
    data,
    "--grpc-port",
    "0",
    "--http-port",
    "0",
    "--workers",
    "1",
    "--tls-cert",
    certs.cert,
    "--tls-key",
    certs.keyOpen,
    "--max-token-ttl",
    "2h",
    "--clock-tolerance",
    "5m",
  ];

  it("refuses a bad configuration (flags), listing every failure with its code, and starts nothing", async () => {
    const args = await bad();
    const run = await runTessera(args, cliEnv(home.dir));
    expect(run.code).toBe(2);
    for (const code of [
      "PROD_GRPC_NO_CLIENT_CA",
      "PROD_NO_MASTER_KEY",
      "PROD_DEV_ORG",
      "PROD_DEV_CREDENTIALS",
      "PROD_EXAMPLE_POLICY",
      "PROD_DATA_DIR_MODE",
      "PROD_KEY_FILE_MODE",
      "PROD_TOKEN_TTL",
      "PROD_CLOCK_TOLERANCE",
    ]) {
      expect(run.stderr, code).toContain(code);
    }
    expect(run.stderr).toContain("[PRODUCTION_CHECKS_FAILED]");
    expect(run.stdout).not.toContain("tessera listening");
  }, 60_000);

  it("doctor, with the same settings, prints the same failures and exits 1; in development mode it only warns", async () => {
    const args = await bad();
    const doctor = await runTessera(["doctor", "--json", ...args.slice(1)], cliEnv(home.dir));
    expect(doctor.code).toBe(1);
    const list = JSON.parse(doctor.stdout) as {
      mode: string;
      ok: boolean;
      checks: { id: string; status: string; findings: { code: string }[] }[];
    };
    expect(list).toMatchObject({ mode: "production", ok: false });
    const failed = list.checks
      .filter((c) => c.status === "fail")
      .flatMap((c) => c.findings.map((f) => f.code));
    expect(failed.sort()).toEqual(
      [
        "PROD_GRPC_NO_CLIENT_CA",
        "PROD_NO_MASTER_KEY",
        "PROD_DEV_ORG",
        "PROD_DEV_CREDENTIALS",
        "PROD_EXAMPLE_POLICY",
        "PROD_DATA_DIR_MODE",
        "PROD_KEY_FILE_MODE",
        "PROD_TOKEN_TTL",
        "PROD_CLOCK_TOLERANCE",
      ].sort(),
    );

    // Development mode (the default) starts on it as today; doctor there only warns.
    const data = args[args.indexOf("--data-dir") + 1] ?? "";
    const devDoctor = await runTessera(
      ["doctor", "--data-dir", data, "--max-token-ttl", "2h"],
      cliEnv(home.dir),
    );
    expect(devDoctor.code).toBe(0);
    expect(devDoctor.stdout).toMatch(/WARN {2}no-dev-org/);
    expect(devDoctor.stdout).not.toMatch(/FAIL/);
  }, 60_000);

  it("takes production mode from TESSERA_MODE, and a placeholder master key from a config file others can read", async () => {
    const dir = join(home.dir, "env-mode");
    mkdirSync(dir, { mode: 0o700 });
    const file = write(
      join(dir, "tessera.yaml"),
      `dataDir: ${join(dir, "data")}\nmasterKey: ${Buffer.alloc(32).toString("base64")}\ngrpcPort: 0\nhttpPort: 0\n`,
      0o644,
    );
    const run = await runTessera(
      ["serve", "--config", file, "--workers", "1"],
      cliEnv(home.dir, { TESSERA_MODE: "production" }),
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("PROD_DEV_MASTER_KEY");
    expect(run.stderr).toContain("PROD_KEY_FILE_MODE");
    expect(run.stderr).not.toContain("PROD_NO_MASTER_KEY");
    // The key itself is never echoed.
    expect(run.stderr).not.toContain(Buffer.alloc(32).toString("base64"));
  }, 60_000);

  it("refuses plaintext off loopback before any check (as in every mode)", async () => {
    const run = await runTessera(
      ["serve", "--mode", "production", "--host", "0.0.0.0", "--data-dir", join(home.dir, "never")],
      cliEnv(home.dir),
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("refusing plaintext on 0.0.0.0");
  }, 60_000);

  it("starts with a good production configuration, answers /healthz over TLS, and creates no development org", async () => {
    const dir = join(home.dir, "good");
    mkdirSync(dir, { mode: 0o700 });
    const data = join(dir, "data");
    mkdirSync(data, { mode: 0o700 });
    chmodSync(data, 0o700);
    const masterKey = randomBytes(32).toString("base64");
    const file = write(
      join(dir, "tessera.yaml"),
      [
        "mode: production",
        `dataDir: ${data}`,
        `tlsCert: ${certs.cert}`,
        `tlsKey: ${certs.key}`,
        `tlsClientCa: ${certs.ca}`,
        `masterKey: ${masterKey}`,
        "",
      ].join("\n"),
      0o600,
    );

    const doctor = await runTessera(["doctor", "--config", file], cliEnv(home.dir));
    expect(doctor.stdout).not.toMatch(/FAIL/);
    // The certificates come from the dev-certs helper: the one warning, which never stops a start.
    expect(doctor.stdout.match(/WARN {2}[a-z-]+/g)).toEqual(["WARN  no-dev-certs"]);
    expect(doctor.code).toBe(0);

    const serve = spawnServe(
      ["--config", file, "--grpc-port", "0", "--http-port", "0", "--workers", "1"],
      cliEnv(home.dir),
    );
    try {
      const ready = await serve.ready;
      const health = await httpsGet(ready.httpPort, "/healthz", ca.cert);
      expect(health.status).toBe(200);
      expect(ready.exports.TESSERA_ADMIN_TOKEN).toBeUndefined();
      expect(serve.stderr()).not.toContain("NO MASTER KEY");
    } finally {
      expect(await serve.stop("SIGTERM", 20_000)).toBe(0);
    }
    const store = openStore(data);
    try {
      expect(store.orgs.countOrgs()).toBe(0);
    } finally {
      void store.close();
    }
  }, 60_000);
});
