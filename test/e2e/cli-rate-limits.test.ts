import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, runTessera } from "../helpers/cli.js";
import { expectOk } from "../helpers/e2e.js";
import { grpcClients } from "../helpers/grpc-fixture.js";
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
    // The org's key made each list call: its usage is counted (listed among the org's own credentials).
    const usage = await server.tessera.usage.ofOrg(server.org.orgId);
    expect([...usage.keys()].some((c) => c.startsWith("api_key:"))).toBe(true);
  });

  it("lists the org's primary key and admin token with their usage, apart from the scoped keys", async () => {
    type Own = { id: string; kind: string; useCount: number; unused: boolean; lastUsedAt?: string };
    const own = async (...extra: string[]) =>
      (await run("api-keys", "list", ...extra)).orgCredentials as Own[];
    const first = await own();
    expect(first.map((k) => k.kind)).toEqual(["primary", "admin_token"]);
    const [key, token] = first;
    // No name or scopes on the org's own credentials; both used by this very listing.
    expect(Object.keys(token ?? {})).not.toContain("scopes");
    expect(token).toMatchObject({ unused: false });
    expect(token?.lastUsedAt).toMatch(/^\d{4}-/);
    const second = await own("--unused-days", "0");
    // One more listing call: one more use of each, never two of the key.
    expect(second[0]).toMatchObject({ id: key?.id, useCount: (key?.useCount ?? 0) + 1 });
    expect(second[1]).toMatchObject({ id: token?.id, useCount: (token?.useCount ?? 0) + 1, unused: true });
    const text = await runTessera(["api-keys", "list"], env);
    expect(text.stdout).toContain(`${token?.id}  (admin token)  last used`);
  });

  it("lists agents with their last use, call count and unused flag", async () => {
    type Listed = { id: string; name: string; useCount: number; unused: boolean; lastUsedAt?: string };
    const agents = async (...extra: string[]) => (await run("agents", "list", ...extra)).agents as Listed[];
    const created = (await run("agents", "create", "--name", "worker")) as { id: string };
    const idle = (await run("agents", "create", "--name", "idle")) as { id: string };
    const fresh = (await agents()).find((a) => a.id === created.id);
    expect(fresh).toMatchObject({ useCount: 0, unused: false });
    expect(fresh?.lastUsedAt).toBeUndefined();
    const { secret } = (await run("agents", "secret", "worker")) as { secret: string };
    const c = grpcClients(`127.0.0.1:${server.grpcPort}`);
    try {
      const login = expectOk(
        await c.auth.call("authenticate", {
          credential: { case: "agentSecret", value: { agentId: created.id, secret } },
          issueTokens: true,
        }),
      );
      const bearer = { authorization: `Bearer ${login.tokens?.accessToken}` };
      for (let i = 0; i < 2; i++) expectOk(await c.auth.call("whoAmI", {}, bearer));
    } finally {
      for (const client of Object.values(c)) client.close();
    }
    const listed = await agents("--unused-days", "0");
    // The login and two calls with its token (no rate limit is set here: the handler counts them,
    // not the limiter); the idle agent, never used, is flagged with 0 days.
    expect(listed.find((a) => a.id === created.id)).toMatchObject({ useCount: 3, unused: true });
    expect(listed.find((a) => a.id === created.id)?.lastUsedAt).toMatch(/^\d{4}-/);
    expect(listed.find((a) => a.id === idle.id)).toMatchObject({ useCount: 0, unused: true });
    expect((await agents()).find((a) => a.id === created.id)).toMatchObject({ unused: false });
    expect(await run("agents", "get", "worker")).toMatchObject({
      id: created.id,
      useCount: 3,
      unused: false,
    });
    // A suspended agent cannot be used: never flagged.
    await run("agents", "suspend", "idle");
    expect((await agents("--unused-days", "0")).find((a) => a.id === idle.id)).toMatchObject({
      unused: false,
    });
    const bad = await runTessera(["agents", "list", "--unused-days", "soon", "--json"], env);
    expect(bad.code).toBe(2);
  });

  it("refuses `limit` with neither --rps nor --clear as a usage error", async () => {
    const r = await runTessera(["api-keys", "limit", "key_x", "--json"], env);
    expect(r.code).toBe(2);
  });
});
