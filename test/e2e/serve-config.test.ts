import { spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/store.js";
import { cliEnv, runTessera, TESSERA_BIN } from "../helpers/cli.js";
import { tempDir } from "../helpers/server.js";

/** Issue #10: strict config files, and logs a person can read. Needs `npm run build`. */
describe("strict config files, through the built CLI", () => {
  let home: ReturnType<typeof tempDir>;
  beforeAll(() => {
    home = tempDir("tessera-strict-config-");
  });
  afterAll(() => home.cleanup());

  it("serve refuses an unknown key in its config file: exit 2, naming it and the likely one", async () => {
    const file = join(home.dir, "tessera.yaml");
    writeFileSync(file, "grpc_port: 6000\n");
    const data = join(home.dir, "data");
    const run = await runTessera(["serve", "--config", file, "--data-dir", data], cliEnv(home.dir));
    expect(run.code).toBe(2);
    const first = run.stderr.split("\n")[0] ?? "";
    expect(first).toContain('"grpc_port"');
    expect(first).toContain('did you mean "grpcPort"?');
    expect(existsSync(data)).toBe(false);
  });

  it("the CLI refuses an unknown key in ~/.tessera/config: exit 2, in the one JSON error shape", async () => {
    const cliHome = join(home.dir, "cli-home");
    mkdirSync(join(cliHome, ".tessera"), { recursive: true });
    writeFileSync(join(cliHome, ".tessera", "config"), "server: http://127.0.0.1:1\napi_key: tsk_x\n");
    const run = await runTessera(["policy", "list", "--json"], cliEnv(cliHome));
    expect(run.code).toBe(2);
    const { error } = JSON.parse(run.stderr) as { error: Record<string, string> };
    expect(error).toMatchObject({ code: "InvalidArgument", reason: "USAGE" });
    expect(error.message).toContain('"api_key"');
    expect(error.message).toContain('did you mean "apiKey"?');
  });
});

describe("serve --log-format pretty (TESSERA_LOG_FORMAT)", () => {
  it("writes lines for people, even into a pipe; a worker never makes the dev org", async () => {
    const home = tempDir("tessera-pretty-");
    const data = join(home.dir, "data");
    const args = ["serve", "--data-dir", data, "--grpc-port", "0", "--http-port", "0"];
    // --bootstrap-dev-org given as a flag must not make each worker create an org too.
    const child = spawn(process.execPath, [TESSERA_BIN, ...args, "--workers", "2", "--bootstrap-dev-org"], {
      env: { ...cliEnv(home.dir), TESSERA_LOG_FORMAT: "pretty" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`not listening: ${stdout}${stderr}`)), 15_000);
        child.once("exit", (code) => reject(new Error(`exited ${code}: ${stderr}`)));
        child.stdout.on("data", (b: Buffer) => {
          stdout += b.toString();
          if (!stdout.includes("tessera listening")) return;
          clearTimeout(timer);
          resolve();
        });
      });
      const line = stdout.split("\n").find((l) => l.includes("tessera listening")) ?? "";
      expect(line).toMatch(
        /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z INFO {2}tessera listening grpcPort=\d+ httpPort=\d+ host=127\.0\.0\.1 .*workers=2 .*devOrg=true/,
      );
      expect(stdout.split("\n").filter((l) => l.startsWith("{"))).toEqual([]);
      expect(stderr).toContain("export TESSERA_ADMIN_TOKEN=");
    } finally {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    const store = openStore(data);
    try {
      expect(store.orgs.countOrgs()).toBe(1);
    } finally {
      void store.close();
      home.cleanup();
    }
  });
});
