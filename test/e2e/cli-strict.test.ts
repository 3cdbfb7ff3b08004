import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import { cliEnv, cliFlags, runTessera } from "../helpers/cli.js";
import { adminHeaders, expectOk } from "../helpers/e2e.js";
import { grpcClient } from "../helpers/grpc-client.js";
import { startTestServer, type TestServer, tempDir } from "../helpers/server.js";

// Run `npm run build` first: these tests start bin/tessera.js, which loads dist/.

const doc = (name: string, verb = "read") => `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: ${name} }
spec:
  rules:
    - { name: r, scopes: ["${name}:${verb}"], effect: allow }
`;

/**
 * Issue #10 through the built CLI against a real server: `policy apply --prune` in one revision
 * and "unchanged" on a re-apply, `policy history` with time and actor, `token revoke` of
 * something that is not a token, and `status`. Each CLI process costs seconds: assertions are
 * grouped per process.
 */
describe("the CLI over the new server fields", () => {
  let server: TestServer;
  let home: ReturnType<typeof tempDir>;
  let flags: string[];
  let policies: string;
  beforeAll(async () => {
    // One process, as `serve --workers 1` runs it (the default is one worker per core).
    server = await startTestServer({ workers: 1 });
    home = tempDir("tessera-cli-strict-");
    flags = cliFlags(server);
    policies = join(home.dir, "policies");
  });
  afterAll(async () => {
    await server?.stop();
    home?.cleanup();
  });

  const tessera = (...args: string[]) => runTessera([...flags, ...args], cliEnv(home.dir), home.dir);
  const writePolicies = (files: Record<string, string>) => {
    rmSync(policies, { recursive: true, force: true });
    mkdirSync(policies, { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(policies, `${name}.yaml`), text);
  };
  const stored = async () => {
    const list = await server.tessera.policies.list(server.org.orgId);
    return { revision: list.revision, names: list.policies.map((p) => p.name) };
  };

  it("applies --prune as one revision, says what changed, then says unchanged", async () => {
    const before = await stored();
    writePolicies({ a: doc("a"), b: doc("b") });
    const pruned = await tessera("policy", "apply", "-f", policies, "--prune", "--json");
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(JSON.parse(pruned.stdout)).toEqual({
      policies: ["a", "b"],
      revision: before.revision + 1,
      unchanged: false,
      added: ["a", "b"],
      changed: [],
      deleted: ["example"],
      unchangedPolicies: [],
    });
    expect(await stored()).toEqual({ revision: before.revision + 1, names: ["a", "b"] });

    const again = await tessera("policy", "apply", "-f", policies, "--prune");
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^unchanged: revision \d+ is in force/);
    expect((await stored()).revision).toBe(before.revision + 1);

    writePolicies({ b: doc("b", "write"), c: doc("c") });
    const plain = await tessera("policy", "apply", "-f", policies);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout.trimEnd().split("\n")).toEqual([
      `applied as revision ${before.revision + 2}`,
      "  added: c",
      "  changed: b",
    ]);
    // Without --prune, `a` stays.
    expect((await stored()).names).toEqual(["a", "b", "c"]);
  });

  it("shows each change's time and actor in policy history", async () => {
    const run = await tessera("policy", "history", "--json");
    expect(run.code, run.stderr).toBe(0);
    const { changes } = JSON.parse(run.stdout) as { changes: Record<string, unknown>[] };
    const keyId = server.tessera.credentials.apiKey(server.org.apiKey).id;
    expect(changes[0]).toMatchObject({ action: "put", actor: `admin:${keyId}` });
    expect(changes.at(-1)).toMatchObject({ name: "example", action: "put", actor: "server" });
    for (const c of changes) expect(Date.parse(String(c.changedAt))).toBeGreaterThan(0);
  });

  it("revokes a token of the org, and says 'not a token' with exit 2 for anything else", async () => {
    const agent = await server.tessera.admin.createAgent(server.org.orgId, {
      name: "revokee",
      tier: "verified",
      roles: ["operator"],
      tags: [],
    });
    const auth = grpcClient(AuthService, `127.0.0.1:${server.grpcPort}`);
    const minted = await auth.call(
      "mintToken",
      { agentId: agent.id, scopes: ["a:b"] },
      adminHeaders(server.org),
    );
    auth.close();
    const { token } = expectOk(minted);
    const revoked = await tessera("token", "revoke", token, "--json");
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout)).toEqual({ revoked: true, tokenType: "access_token" });
    const junk = await tessera("token", "revoke", "not-a-token", "--json");
    expect(junk.code).toBe(2);
    expect(junk.stdout).toBe("");
    expect(JSON.parse(junk.stderr).error.message).toContain("not a token");
  });

  it("shows the server's status and the org's revision (--json), and the server's alone without a credential", async () => {
    const run = await tessera("status", "--json");
    expect(run.code, run.stderr).toBe(0);
    const status = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(status).toMatchObject({
      status: "SERVING",
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      workers: 1,
      workerId: 0,
      orgId: server.org.orgId,
      policyRevision: (await stored()).revision,
    });
    expect(status.uptimeSeconds).toEqual(expect.any(Number));
    const anonymous = await runTessera(
      ["--server", `http://127.0.0.1:${server.grpcPort}`, "status"],
      cliEnv(home.dir),
      home.dir,
    );
    expect(anonymous.code, anonymous.stderr).toBe(0);
    expect(anonymous.stdout).toMatch(/^SERVING {2}tessera \d+\.\d+\.\d+, 1 worker, up /);
    expect(anonymous.stdout).toContain("no org credential");
  });
});
