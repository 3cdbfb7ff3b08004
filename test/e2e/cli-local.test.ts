import { X509Certificate } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { isWellFormedSecret } from "../../src/auth/secrets.js";
import type { NewOrg } from "../../src/core/bootstrap.js";
import { cliEnv, runTessera, spawnServe } from "../helpers/cli.js";
import { expectOk } from "../helpers/e2e.js";
import { grpcClient } from "../helpers/grpc-client.js";
import { startTestServer, tempDir } from "../helpers/server.js";

describe("the tessera CLI without a server", () => {
  let home: ReturnType<typeof tempDir>;
  beforeAll(() => {
    home = tempDir("tessera-cli-home-");
  });
  afterAll(() => home?.cleanup());

  it("prints help listing every command, exit 0", async () => {
    const run = await runTessera(["--help"], cliEnv(home.dir));
    expect(run.code).toBe(0);
    for (const command of [
      "serve",
      "init",
      "agents",
      "token",
      "check",
      "policy",
      "services",
      "certs",
      "operator",
    ]) {
      expect(run.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, "m"));
    }
  });

  it("init creates an org whose credentials a server on that directory accepts", async () => {
    const data = tempDir("tessera-init-");
    try {
      const run = await runTessera(["init", "--data-dir", data.dir, "--json"], cliEnv(home.dir));
      expect(run.code, run.stderr).toBe(0);
      const org = JSON.parse(run.stdout) as NewOrg;
      expect(org.orgId).toMatch(/^org_/);
      expect(org.apiKey).toMatch(/^tsk_/);
      expect(org.adminToken).toMatch(/^tat_/);
      expect(isWellFormedSecret("apiKey", org.apiKey)).toBe(true);
      expect(isWellFormedSecret("adminToken", org.adminToken)).toBe(true);
      // The org exists, so the server creates no development org, and init's credentials work.
      const server = await startTestServer({}, data.dir);
      const admin = grpcClient(AdminService, `127.0.0.1:${server.grpcPort}`);
      try {
        expect(server.devOrg).toBeUndefined();
        const headers = { "x-api-key": org.apiKey, "x-admin-token": org.adminToken };
        expect(expectOk(await admin.call("listAgents", {}, headers)).agents).toEqual([]);
      } finally {
        admin.close();
        await server.stop({ keepData: true });
      }
    } finally {
      data.cleanup();
    }
  });

  it("certs dev writes a CA, a server pair and a client pair", async () => {
    const out = tempDir("tessera-certs-");
    try {
      const run = await runTessera(["certs", "dev", "--out", out.dir], cliEnv(home.dir));
      expect(run.code, run.stderr).toBe(0);
      for (const name of ["ca.pem", "server.pem", "server-key.pem", "client.pem", "client-key.pem"]) {
        expect(existsSync(join(out.dir, name)), name).toBe(true);
      }
      const pem = (name: string) => readFileSync(join(out.dir, name), "utf8");
      const ca = new X509Certificate(pem("ca.pem"));
      const client = new X509Certificate(pem("client.pem"));
      expect(client.checkIssued(ca)).toBe(true);
      expect(client.subjectAltName).toContain("URI:spiffe://tessera.local/client");
      expect(new X509Certificate(pem("server.pem")).checkIssued(ca)).toBe(true);
      expect(pem("client-key.pem")).toContain("BEGIN PRIVATE KEY");
      expect(statSync(join(out.dir, "client-key.pem")).mode & 0o077).toBe(0);
    } finally {
      out.cleanup();
    }
  });
});

describe("tessera serve as a process", () => {
  it("prints the dev-org banner, logs its ports, serves, and exits 0 on SIGTERM", async () => {
    const home = tempDir("tessera-serve-home-");
    const data = tempDir("tessera-serve-data-");
    const serve = spawnServe(
      ["--data-dir", data.dir, "--grpc-port", "0", "--http-port", "0"],
      cliEnv(home.dir),
    );
    try {
      const ready = await serve.ready;
      expect(ready.grpcPort).toBeGreaterThan(0);
      expect(ready.httpPort).toBeGreaterThan(0);
      expect(ready.exports.TESSERA_SERVER).toBe(`http://127.0.0.1:${ready.grpcPort}`);
      expect(ready.exports.TESSERA_API_KEY).toMatch(/^tsk_/);
      expect(ready.exports.TESSERA_ADMIN_TOKEN).toMatch(/^tat_/);
      const health = await fetch(`http://127.0.0.1:${ready.httpPort}/healthz`, {
        signal: AbortSignal.timeout(5_000),
      });
      expect(health.status).toBe(200);
      // The banner's exports are all a user needs for the next command.
      const run = await runTessera(["policy", "list", "--json"], cliEnv(home.dir, ready.exports));
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ revision: 1, policies: [{ name: "example" }] });
      expect(await serve.stop("SIGTERM", 5_000)).toBe(0);
    } finally {
      if (serve.child.exitCode === null) serve.child.kill("SIGKILL");
      home.cleanup();
      data.cleanup();
    }
  });
});
