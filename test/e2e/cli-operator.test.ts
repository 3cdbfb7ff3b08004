import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isWellFormedSecret } from "../../src/auth/secrets.js";
import { cliEnv, cliFlags, runTessera } from "../helpers/cli.js";
import { startTestServer, type TestServer, tempDir } from "../helpers/server.js";

// Each CLI run starts a Node process (2-3 s on a loaded machine), so tests get more time.
describe("tessera operator … and the commands that need the operator token", { timeout: 60_000 }, () => {
  let home: ReturnType<typeof tempDir>;
  let server: TestServer;
  let serverFlag: string[];
  let token = "";
  let tokenId = "";

  beforeAll(async () => {
    home = tempDir("tessera-cli-home-");
    server = await startTestServer();
    serverFlag = ["--server", `http://127.0.0.1:${server.grpcPort}`];
  });
  afterAll(async () => {
    await server?.stop();
    home?.cleanup();
  });

  const run = (args: string[], extraEnv: Record<string, string> = {}) =>
    runTessera([...args, "--json"], cliEnv(home.dir, extraEnv));
  const ok = async (args: string[], extraEnv: Record<string, string> = {}) => {
    const r = await run(args, extraEnv);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };
  const asOperator = () => [...serverFlag, "--operator-token", token];

  it("creates an operator token on the data directory, printed once and stored as a digest", async () => {
    const out = await ok(["operator", "token", "create", "--data-dir", server.dataDir, "--name", "ops"]);
    token = String(out.operatorToken);
    tokenId = String(out.id);
    expect(isWellFormedSecret("operatorToken", token)).toBe(true);
    const listed = (await ok(["operator", "token", "list", "--data-dir", server.dataDir])) as {
      tokens: { id: string; name: string; prefix: string }[];
    };
    expect(listed.tokens).toEqual([
      expect.objectContaining({ id: tokenId, name: "ops", prefix: token.slice(0, 8) }),
    ]);
    expect(JSON.stringify(listed)).not.toContain(token);
  });

  it("keys rotate needs the operator token: org credentials alone are a usage error (exit 2)", async () => {
    const refused = await run(["keys", "rotate", ...cliFlags(server)]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/operator token/);
    const rotated = (await ok(["keys", "rotate", "--yes", ...asOperator()])) as { keys: { state: string }[] };
    expect(rotated.keys.map((k) => k.state).sort()).toEqual(["active", "next", "retired"]);
  });

  it("creates and lists orgs, with the token from TESSERA_OPERATOR_TOKEN", async () => {
    const env = { TESSERA_OPERATOR_TOKEN: token };
    const created = await ok(["operator", "orgs", "create", "acme", ...serverFlag], env);
    expect(created).toMatchObject({
      orgId: expect.stringMatching(/^org_/),
      apiKey: expect.stringMatching(/^tsk_/),
    });
    const listed = (await ok(["operator", "orgs", "list", ...serverFlag], env)) as {
      orgs: { name: string }[];
    };
    expect(listed.orgs.map((o) => o.name).sort()).toEqual(["acme", "development"]);
  });

  it("assigns namespaces; the org cannot bind outside them", async () => {
    const org = server.org.orgId;
    await ok(["operator", "namespaces", "assign", org, "spiffe://mesh.example/", ...asOperator()]);
    await ok(["operator", "namespaces", "assign", org, "cn:billing-worker", ...asOperator()]);
    const outside = await run(["services", "bind", "spiffe://elsewhere.example/x", ...cliFlags(server)]);
    expect(outside.code).toBe(1);
    expect(JSON.parse(outside.stderr)).toMatchObject({ error: { reason: "IDENTITY_OUTSIDE_NAMESPACE" } });
  });

  it("binds, lists and unbinds the org's identities inside its namespaces", async () => {
    const org = server.org.orgId;
    expect(await ok(["services", "bind", "spiffe://mesh.example/gw", ...cliFlags(server)])).toMatchObject({
      source: "spiffe",
      orgId: org,
    });
    expect(await ok(["services", "bind", "billing-worker", "--cn", ...cliFlags(server)])).toMatchObject({
      source: "cn",
    });
    const listed = (await ok(["services", "list", ...cliFlags(server)])) as {
      identities: { identity: string; source: string }[];
      namespaces: { namespace: string }[];
    };
    expect(listed.identities.map((i) => `${i.source} ${i.identity}`)).toEqual([
      "cn billing-worker",
      "spiffe spiffe://mesh.example/gw",
    ]);
    await ok(["services", "unbind", "billing-worker", ...cliFlags(server)]);
  });

  it("lists and unassigns namespaces; unassigning removes the org's bindings in it", async () => {
    const org = server.org.orgId;
    const ns = (await ok(["operator", "namespaces", "list", "--org", org, ...asOperator()])) as {
      namespaces: { namespace: string }[];
    };
    expect(ns.namespaces.map((n) => n.namespace)).toEqual(["cn:billing-worker", "spiffe://mesh.example/"]);
    const unassigned = await ok([
      "operator",
      "namespaces",
      "unassign",
      "spiffe://mesh.example/",
      ...asOperator(),
    ]);
    expect(unassigned).toMatchObject({
      removed: [expect.objectContaining({ identity: "spiffe://mesh.example/gw" })],
    });
    expect(
      ((await ok(["services", "list", ...cliFlags(server)])) as { identities: unknown[] }).identities,
    ).toEqual([]);
  });

  it("revokes an operator token on the data directory: the server refuses it at once", async () => {
    await ok(["operator", "token", "revoke", tokenId, "--data-dir", server.dataDir]);
    const r = await run(["operator", "orgs", "list", ...asOperator()]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stderr)).toMatchObject({ error: { reason: "OPERATOR_TOKEN_UNKNOWN" } });
  });
});
