import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, runTessera } from "../helpers/cli.js";
import { startTestServer, type TestServer, tempDir } from "../helpers/server.js";

// Six or more CLI runs a test, each a Node process of 2-3 s when the machine is shared: the
// default 20 s timed out twice in full runs (load average ~10 on 2 cores), never alone.
describe("the CLI for every credential type", { timeout: 60_000 }, () => {
  const home = tempDir();
  let server: TestServer;
  let env: NodeJS.ProcessEnv;
  const run = async (...args: string[]) => {
    const r = await runTessera([...args, "--json"], env);
    if (r.code !== 0 && r.code !== 3) throw new Error(`tessera ${args.join(" ")} → ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };

  beforeAll(async () => {
    server = await startTestServer();
    env = cliEnv(home.dir, {
      TESSERA_SERVER: `http://127.0.0.1:${server.grpcPort}`,
      TESSERA_API_KEY: server.org.apiKey,
      TESSERA_ADMIN_TOKEN: server.org.adminToken,
    });
  });
  afterAll(async () => {
    await server.stop();
    home.cleanup();
  });

  it("creates a user, logs in, introspects, refreshes and revokes", async () => {
    const pw = join(home.dir, "pw");
    writeFileSync(pw, "correct horse battery staple\n");
    const user = await run("users", "create", "--username", "ops", "--password-file", pw, "--role", "admin");
    expect(user).toMatchObject({ username: "ops", role: "admin" });
    const pair = await run("login", "--org", server.org.orgId, "--username", "ops", "--password-file", pw);
    expect(pair.refreshToken).toMatch(/^trt_/);
    expect(await run("token", "introspect", String(pair.accessToken))).toMatchObject({
      active: true,
      sub: user.id,
    });
    const next = await run("token", "refresh", String(pair.refreshToken));
    expect(next.accessToken).not.toBe(pair.accessToken);
    await run("token", "revoke", String(next.accessToken));
    expect(await run("token", "introspect", String(next.accessToken))).toEqual({ active: false });
  });

  it("manages an agent's secret, public key and suspension", async () => {
    const agent = await run(
      "agents",
      "create",
      "--name",
      "cli-agent",
      "--tier",
      "verified",
      "--role",
      "operator",
    );
    const secret = await run("agents", "secret", String(agent.id));
    expect(secret.secret).toMatch(/^tas_/);
    const secretFile = join(home.dir, "agent.secret");
    writeFileSync(secretFile, `${secret.secret}\n`);
    const bySecret = await run("login", "--agent", String(agent.id), "--secret-file", secretFile);
    expect(bySecret.refreshToken).toMatch(/^trt_/);
    const pair = generateKeyPairSync("ed25519");
    const pem = join(home.dir, "agent.pub");
    const privatePem = join(home.dir, "agent.key");
    writeFileSync(pem, pair.publicKey.export({ type: "spki", format: "pem" }));
    writeFileSync(privatePem, pair.privateKey.export({ type: "pkcs8", format: "pem" }));
    const key = await run("agents", "keys", "add", String(agent.id), pem);
    expect(key).toMatchObject({ alg: "EdDSA" });
    const byKey = await run(
      "login",
      "--agent",
      String(agent.id),
      "--key-file",
      privatePem,
      "--key-id",
      String(key.keyId),
    );
    expect(await run("token", "introspect", String(byKey.accessToken))).toMatchObject({
      active: true,
      sub: agent.id,
    });
    expect(await run("agents", "suspend", String(agent.id))).toMatchObject({ suspended: true });
    expect(await run("agents", "resume", String(agent.id))).toMatchObject({ suspended: false });
  });

  it("issues, rotates and revokes scoped keys, and rotates the org's own credentials", async () => {
    const created = await run("api-keys", "create", "--name", "ci", "--scope", "policies:manage");
    const id = String((created.key as { id: string }).id);
    expect((await run("api-keys", "list")).keys).toEqual([
      expect.objectContaining({ id, scopes: ["policies:manage"] }),
    ]);
    const rotated = await run("api-keys", "rotate", id, "--grace", "1h");
    expect(rotated.apiKey).toMatch(/^tsk_/);
    await run("api-keys", "revoke", id);
    expect((await run("keys", "list")).keys).toHaveLength(2);
    const fresh = await run("org", "rotate-credentials", "--yes");
    const stale = await runTessera(["agents", "list", "--json"], env);
    expect(stale.code).toBe(1);
    expect(JSON.parse(stale.stderr).error.reason).toBe("API_KEY_UNKNOWN");
    env = { ...env, TESSERA_API_KEY: String(fresh.apiKey), TESSERA_ADMIN_TOKEN: String(fresh.adminToken) };
    expect((await run("agents", "list")).agents).toBeInstanceOf(Array);
  });
});
