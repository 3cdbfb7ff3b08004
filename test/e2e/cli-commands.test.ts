import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { cliEnv, cliFlags, runTessera, TESSERA_BIN } from "../helpers/cli.js";
import { adminHeaders, expectOk } from "../helpers/e2e.js";
import { grpcClient } from "../helpers/grpc-client.js";
import { startTestServer, type TestServer, tempDir } from "../helpers/server.js";

/** True when script(1) (util-linux) is here to give the CLI a terminal. */
function hasScript(): boolean {
  try {
    execFileSync("script", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

// Run `npm run build` first: these tests start bin/tessera.js, which loads dist/. Each run is a
// Node process (about a second on a loaded machine), so each test groups several assertions.
describe("the CLI's commands against a running server", { timeout: 60_000 }, () => {
  const home = tempDir("tessera-cli-commands-");
  let server: TestServer;
  let flags: string[];
  let admin: ReturnType<typeof grpcClient<typeof AdminService.method>>;

  /** Runs the CLI from the temp home (no data/dev-credentials.json there) with --json. */
  const run = (args: string[], env: Record<string, string> = {}) =>
    runTessera([...args, "--json"], cliEnv(home.dir, env), home.dir);
  const ok = async (args: string[], env: Record<string, string> = {}) => {
    const r = await run([...args, ...flags], env);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };
  /** A failure: its exit code and the one JSON error shape on stderr, stdout empty. */
  const refused = async (args: string[], env: Record<string, string> = {}) => {
    const r = await run(args, env);
    expect(r.stdout).toBe("");
    return { code: r.code, error: (JSON.parse(r.stderr) as { error: Record<string, string> }).error };
  };
  const agentNames = async () =>
    expectOk(await admin.call("listAgents", {}, adminHeaders(server.org))).agents.map((a) => a.name);

  beforeAll(async () => {
    server = await startTestServer();
    flags = cliFlags(server);
    admin = grpcClient(AdminService, `127.0.0.1:${server.grpcPort}`);
  });
  afterAll(async () => {
    admin?.close();
    await server?.stop();
    home.cleanup();
  });

  it("version and -v print package.json's version", async () => {
    const { version } = JSON.parse(readFileSync("package.json", "utf8")) as { version: string };
    expect(JSON.parse((await run(["version"])).stdout)).toMatchObject({ version });
    expect((await runTessera(["-v"], cliEnv(home.dir))).stdout.trim()).toBe(version);
  });

  it("whoami names the org and how the credential authenticated", async () => {
    expect(await ok(["whoami"])).toMatchObject({
      orgId: server.org.orgId,
      kind: "api_key",
      authMethod: "admin_token",
      scopes: ["admin"],
    });
  });

  it("agents get|update|delete take a NAME or an ID; get shows the parent; delete needs --yes off a terminal", async () => {
    const parent = await ok([
      "agents",
      "create",
      "--name",
      "lead",
      "--tier",
      "trusted",
      "--role",
      "operator",
    ]);
    await ok(["agents", "create", "--name", "helper", "--parent", "lead"]);
    expect(await ok(["agents", "get", "helper"])).toMatchObject({ parentId: parent.id, parentName: "lead" });
    const updated = await ok([
      "agents",
      "update",
      "helper",
      "--tier",
      "verified",
      "--role",
      "viewer",
      "--no-parent",
    ]);
    expect(updated).toMatchObject({ name: "helper", tier: "verified", roles: ["viewer"] });
    expect(updated.parentId).toBeUndefined();
    expect(await ok(["agents", "get", String(parent.id)])).toMatchObject({ name: "lead" });

    const unconfirmed = await refused(["agents", "delete", "helper", ...flags]);
    expect(unconfirmed).toMatchObject({ code: 2, error: { code: "InvalidArgument", reason: "USAGE" } });
    expect(unconfirmed.error.message).toContain("--yes");
    expect(await agentNames()).toContain("helper");
    expect(await ok(["agents", "delete", "helper", "--yes"])).toMatchObject({ name: "helper" });
    expect(await agentNames()).toEqual(["lead"]);
    const gone = await refused(["agents", "get", "helper", ...flags]);
    expect(gone).toMatchObject({ code: 1, error: { code: "NotFound", reason: "AGENT_NOT_FOUND" } });
  });

  it.skipIf(!hasScript())(
    "asks on a terminal before deleting, and goes on when the user says yes",
    async () => {
      await ok(["agents", "create", "--name", "doomed"]);
      // script(1) runs the CLI on a pseudo-terminal and types our input into it.
      const cli = [process.execPath, TESSERA_BIN, "agents", "delete", "doomed", ...flags].join(" ");
      const out = await new Promise<string>((resolve, reject) =>
        execFile(
          "script",
          ["-qec", cli, "/dev/null"],
          { env: cliEnv(home.dir), timeout: 20_000 },
          (err, stdout) => (err ? reject(err) : resolve(stdout)),
        ).stdin?.end("y\n"),
      );
      expect(out).toContain("Continue? [y/N]");
      expect(await agentNames()).not.toContain("doomed");
    },
  );

  it("answers usage mistakes and server refusals in one JSON error shape", async () => {
    const unknown = await refused(["agents", "list", "--bogus", ...flags]);
    expect(unknown).toMatchObject({ code: 2, error: { code: "InvalidArgument", reason: "USAGE" } });
    expect(unknown.error.message).toContain("--bogus");
    const missing = await refused(["agents", "get", ...flags]);
    expect(missing).toMatchObject({ code: 2, error: { code: "InvalidArgument", reason: "USAGE" } });
    const noScope = await refused(["token", "mint", "--agent", "lead", ...flags]);
    expect(noScope).toMatchObject({ code: 2, error: { reason: "USAGE" } });
    expect(noScope.error.message).toContain("--scope");
    const badRole = await refused(["agents", "create", "--name", "x", "--role", "Not A Role", ...flags]);
    expect(badRole).toMatchObject({ code: 2, error: { code: "InvalidArgument", reason: "ROLE_INVALID" } });
    // No credential anywhere: the flags and variables to set are named, not the headers.
    const none = await refused(["agents", "list", "--server", `http://127.0.0.1:${server.grpcPort}`]);
    expect(none.code).toBe(2);
    expect(none.error.message).toContain("--api-key / TESSERA_API_KEY");
    expect(none.error.message).not.toContain("x-api-key");
    expect(await agentNames()).toEqual(["lead"]);
  });

  it("sends a session token from --token (over exported keys) as the caller's credential", async () => {
    const password = join(home.dir, "pw");
    writeFileSync(password, "correct horse battery staple\n");
    await ok(["users", "create", "--username", "ops", "--password-file", password, "--role", "admin"]);
    const login = ["login", "--org", server.org.orgId, "--username", "ops", "--password-file", password];
    const { accessToken } = await ok(login);
    const server_ = `http://127.0.0.1:${server.grpcPort}`;
    // Wrong keys in the environment: --token must be what is sent.
    const env = { TESSERA_SERVER: server_, TESSERA_API_KEY: "tsk_wrong", TESSERA_ADMIN_TOKEN: "tat_wrong" };
    const agents = await run(["agents", "list", "--token", String(accessToken)], env);
    expect(agents.code, agents.stderr).toBe(0);
    expect((JSON.parse(agents.stdout) as { agents: { name: string }[] }).agents.map((a) => a.name)).toEqual([
      "lead",
    ]);
    const me = await run(["whoami"], { TESSERA_SERVER: server_, TESSERA_TOKEN: String(accessToken) });
    expect(JSON.parse(me.stdout)).toMatchObject({ kind: "user", name: "ops", authMethod: "token" });
  });

  it("check --explain prints every candidate rule and its outcome", async () => {
    const args = ["check", "--subject", "a", "--tier", "verified", "--role", "operator"];
    const out = await ok([...args, "--scope", "governance:propose", "--resource", "tool/t1", "--explain"]);
    expect(out).toMatchObject({ decision: "ALLOW", rule: "example/propose" });
    expect(out.explanation).toEqual([{ rule: "example/propose", effect: "allow", outcome: "MATCHED" }]);
  });

  it("policy diff compares stored and local documents; policy test --server runs local suites on the server", async () => {
    const policies = join(process.cwd(), "examples", "policies");
    const tests = join(process.cwd(), "examples", "tests");
    expect(await ok(["policy", "apply", policies])).toMatchObject({ policies: ["governance"] });
    const { revision } = await ok(["policy", "delete", "example", "--yes"]);
    expect(await ok(["policy", "diff", policies, "--exit-code"])).toMatchObject({
      revision,
      documents: [{ name: "governance", status: "unchanged" }],
    });
    const changed = join(home.dir, "changed");
    mkdirSync(changed);
    const governance = readFileSync(join(policies, "governance.yaml"), "utf8");
    writeFileSync(join(changed, "g.yaml"), governance.replace("minTier: verified", "minTier: trusted"));
    const diff = await run(["policy", "diff", changed, "--exit-code", ...flags]);
    expect(diff.code).toBe(1);
    const [doc] = (JSON.parse(diff.stdout) as { documents: { status: string; diff: string }[] }).documents;
    expect(doc?.status).toBe("changed");
    expect(doc?.diff.split("\n")).toEqual(
      expect.arrayContaining(["-      minTier: verified", "+      minTier: trusted"]),
    );

    // --server alone: the configured server (here from the environment).
    const env = {
      TESSERA_SERVER: `http://127.0.0.1:${server.grpcPort}`,
      TESSERA_API_KEY: server.org.apiKey,
      TESSERA_ADMIN_TOKEN: server.org.adminToken,
    };
    const stored = await run(["policy", "test", tests, "--server"], env);
    expect(stored.code, stored.stderr).toBe(0);
    expect(JSON.parse(stored.stdout)).toMatchObject({ passed: 8, failed: 0, ran: "server" });
    const candidate = await run(["policy", "test", tests, "--policies", changed, ...flags]);
    expect(candidate.code).toBe(1);
    const report = JSON.parse(candidate.stdout) as {
      failed: number;
      ran: string;
      failures: { rule: string }[];
    };
    expect(report).toMatchObject({ ran: "server", candidates: changed });
    expect(report.failed).toBeGreaterThan(0);
    // Testing a candidate applies nothing.
    expect(await ok(["policy", "list"])).toMatchObject({ revision });

    const empty = join(home.dir, "no-policy");
    mkdirSync(empty);
    writeFileSync(join(empty, "other.yaml"), "kind: Something\n");
    expect(await refused(["policy", "validate", empty])).toMatchObject({
      code: 2,
      error: { reason: "USAGE" },
    });
    const noTests = await refused(["policy", "test", policies]);
    expect(noTests).toMatchObject({ code: 2, error: { reason: "USAGE" } });
    expect(noTests.error.message).toContain("PolicyTest");
  });

  it("completion bash loads in bash and completes commands, subcommands and choices", async () => {
    const script = (await runTessera(["completion", "bash"], cliEnv(home.dir))).stdout;
    const file = join(home.dir, "tessera.bash");
    writeFileSync(file, script);
    execFileSync("bash", ["-n", file]);
    const complete = (...words: string[]) =>
      execFileSync("bash", [
        "-c",
        `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _tessera; echo "\${COMPREPLY[*]}"`,
      ])
        .toString()
        .trim();
    expect(complete("tessera", "ag")).toBe("agents");
    expect(complete("tessera", "agents", "up")).toBe("update");
    expect(complete("tessera", "--json", "policy", "d").split(" ").sort()).toEqual(["delete", "diff"]);
    expect(complete("tessera", "agents", "create", "--tier", "t")).toBe("trusted");
    expect(complete("tessera", "agents", "create", "--ti")).toBe("--tier");
  });
});
