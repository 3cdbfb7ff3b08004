import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, runTessera } from "../helpers/cli.js";
import { startTestServer, type TestServer, tempDir } from "../helpers/server.js";

/* Issue #13 from the CLI: a key's own rate limit set and cleared, and its usage listed. */
describe("tessera api-keys: rate limits and usage", { timeout: 60_000 }, () => {
  const home = tempDir();
  let server: TestServer;
  let env: NodeJS.ProcessEnv;
  const run = async (...args: string[]) => {
    const r = await runTessera([...args, "--json"], env);
    if (r.code !== 0) throw new Error(`tessera ${args.join(" ")} → ${r.code}: ${r.stderr}`);
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

  it("creates a key with --rps/--burst, lists its limit and usage, and clears the limit", async () => {
    const created = await run(
      "api-keys",
      "create",
      "--name",
      "pep",
      "--scope",
      "policies:read",
      "--rps",
      "5",
      "--burst",
      "8",
    );
    const id = String((created.key as { id: string }).id);
    expect(created.key).toMatchObject({ rateLimit: { requestsPerSecond: 5, burst: 8 } });
    const listed = (await run("api-keys", "list")).keys as Record<string, unknown>[];
    // Never used, made just now: not flagged with the default 30 days; flagged with 0.
    expect(listed.find((k) => k.id === id)).toMatchObject({
      useCount: 0,
      unused: false,
      rateLimit: { requestsPerSecond: 5, burst: 8 },
    });
    const flagged = (await run("api-keys", "list", "--unused-days", "0")).keys as Record<string, unknown>[];
    expect(flagged.find((k) => k.id === id)).toMatchObject({ unused: true });
    expect(await run("api-keys", "limit", id, "--clear")).toEqual({ id, rateLimit: null });
    const cleared = (await run("api-keys", "list")).keys as Record<string, unknown>[];
    expect(cleared.find((k) => k.id === id)?.rateLimit).toBeUndefined();
    // The org's key made each list call: its usage is counted (it is the org's primary key, not listed).
    const usage = server.tessera.usage.ofOrg(server.org.orgId);
    expect([...usage.keys()].some((c) => c.startsWith("api_key:"))).toBe(true);
  });

  it("refuses `limit` with neither --rps nor --clear as a usage error", async () => {
    const r = await runTessera(["api-keys", "limit", "key_x", "--json"], env);
    expect(r.code).toBe(2);
  });
});
