import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { generateSecret } from "../../src/auth/secrets.js";
import { cliEnv, cliFlags, runTessera } from "../helpers/cli.js";
import { adminHeaders, expectOk } from "../helpers/e2e.js";
import { grpcClient } from "../helpers/grpc-client.js";
import { startTestServer, type TestServer, tempDir } from "../helpers/server.js";

describe("the tessera CLI against a running server", () => {
  let home: ReturnType<typeof tempDir>;
  let server: TestServer;
  let flags: string[];
  let agentId: string;
  let token: string;
  let admin: ReturnType<typeof grpcClient<typeof AdminService.method>>;

  beforeAll(async () => {
    home = tempDir("tessera-cli-home-");
    server = await startTestServer();
    admin = grpcClient(AdminService, `127.0.0.1:${server.grpcPort}`);
    flags = cliFlags(server);
  });
  afterAll(async () => {
    admin?.close();
    await server?.stop();
    home?.cleanup();
  });

  it("creates an agent with credentials given as flags", async () => {
    const args = ["agents", "create", "--name", "n", "--tier", "verified", "--role", "operator", "--json"];
    const run = await runTessera([...args, ...flags], cliEnv(home.dir));
    expect(run.code, run.stderr).toBe(0);
    const agent = JSON.parse(run.stdout) as { id: string };
    expect(agent).toMatchObject({
      name: "n",
      tier: "verified",
      roles: ["operator"],
      orgId: server.org.orgId,
    });
    expect(agent.id).toMatch(/^agt_/);
    agentId = agent.id;
  });

  it("mints a token with credentials from TESSERA_* environment variables", async () => {
    const env = cliEnv(home.dir, {
      TESSERA_SERVER: `http://127.0.0.1:${server.grpcPort}`,
      TESSERA_API_KEY: server.org.apiKey,
      TESSERA_ADMIN_TOKEN: server.org.adminToken,
    });
    const run = await runTessera(
      ["token", "mint", "--agent", agentId, "--scope", "governance:propose", "--ttl", "10m", "--json"],
      env,
    );
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as { token: string; expiresAt: string };
    expect(out.token.split(".")).toHaveLength(3);
    const lifetime = Date.parse(out.expiresAt) - Date.now();
    expect(lifetime).toBeGreaterThan(590_000);
    expect(lifetime).toBeLessThanOrEqual(600_000);
    token = out.token;
  });

  describe("with credentials in $HOME/.tessera/config", () => {
    let configHome: ReturnType<typeof tempDir>;
    beforeAll(() => {
      configHome = tempDir("tessera-cli-config-");
      mkdirSync(join(configHome.dir, ".tessera"));
      const { apiKey, adminToken } = server.org;
      const yaml = `server: 127.0.0.1:${server.grpcPort}\napiKey: ${apiKey}\nadminToken: ${adminToken}\n`;
      writeFileSync(join(configHome.dir, ".tessera", "config"), yaml);
    });
    afterAll(() => configHome?.cleanup());

    it("checks an allowed scope: ALLOW, exit 0", async () => {
      const args = [
        "check",
        "--token",
        token,
        "--scope",
        "governance:propose",
        "--resource",
        "tool/t1",
        "--json",
      ];
      const run = await runTessera(args, cliEnv(configHome.dir));
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ decision: "ALLOW", rule: "example/propose" });
    });

    it("checks a denied scope: DENY, exit 3", async () => {
      // The token does not carry audit:read, and an operator is not an admin anyway.
      const args = ["check", "--token", token, "--scope", "audit:read", "--resource", "tool/t1", "--json"];
      const run = await runTessera(args, cliEnv(configHome.dir));
      expect(run.code).toBe(3);
      expect(JSON.parse(run.stdout)).toMatchObject({ decision: "DENY" });
    });

    it("lists agents with the admin credentials from the file", async () => {
      const run = await runTessera(["agents", "list", "--json"], cliEnv(configHome.dir));
      expect(run.code, run.stderr).toBe(0);
      expect((JSON.parse(run.stdout) as { agents: { id: string }[] }).agents.map((a) => a.id)).toEqual([
        agentId,
      ]);
    });
  });

  it("lets a flag override the environment", async () => {
    const env = cliEnv(home.dir, { TESSERA_API_KEY: "tsk_wrong" });
    const run = await runTessera(["agents", "list", "--json", ...flags], env);
    expect(run.code, run.stderr).toBe(0);
  });

  it.each([
    ["a malformed API key", "tsk_bad", "API_KEY_MALFORMED"],
    ["a well-formed unknown API key", generateSecret("apiKey"), "API_KEY_UNKNOWN"],
  ])("fails with exit 1 and a JSON error on stderr for %s", async (_name, key, reason) => {
    const args = ["agents", "create", "--name", "never", "--json", ...flags, "--api-key", key];
    const run = await runTessera(args, cliEnv(home.dir));
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(JSON.parse(run.stderr)).toMatchObject({ error: { code: "Unauthenticated", reason } });
    const agents = expectOk(await admin.call("listAgents", {}, adminHeaders(server.org)));
    expect(agents.agents.map((a) => a.name)).toEqual(["n"]);
  });

  it("exits 2 for a usage mistake", async () => {
    const run = await runTessera(
      ["check", "--scope", "governance:propose", "--json", ...flags],
      cliEnv(home.dir),
    );
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stderr)).toMatchObject({ error: { reason: "USAGE" } });
  });
});
