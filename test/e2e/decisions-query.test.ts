import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DecisionFilter } from "../../gen/tessera/v1/admin_service_pb.js";
import { cliEnv, cliFlags, runTessera, TESSERA_BIN } from "../helpers/cli.js";
import { adminHeaders, expectFailure, expectOk } from "../helpers/e2e.js";
import { type GrpcFixture, startGrpcFixture } from "../helpers/grpc-fixture.js";
import { tempDir } from "../helpers/server.js";

/**
 * Issue #13, QueryDecisions and the CLI on a real server: decisions made over gRPC come back to
 * their org only (never to another), filtered; `tessera decisions query --json` prints JSON lines;
 * `tessera decisions tail` prints decisions made after it started and exits 0 on SIGINT.
 */

const POLICY = `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: reads }
spec:
  rules:
    - { name: reads, scopes: ["audit:read"], effect: allow }
`;

describe("QueryDecisions and tessera decisions", { timeout: 90_000 }, () => {
  let f: GrpcFixture;
  let home: ReturnType<typeof tempDir>;
  const ask = (scope: string, id: string) =>
    f.c.auth.call(
      "authorize",
      { subject: { case: "token", value: f.token }, scope, resource: { kind: "report", id } },
      { "x-api-key": f.admin["x-api-key"] ?? "" },
    );
  /** The org's decisions, once the writer has stored at least `n`. */
  async function decisions(headers: Record<string, string>, n: number, extra: object = {}) {
    for (let i = 0; i < 100; i++) {
      const res = expectOk(await f.c.admin.call("queryDecisions", { limit: 1000, ...extra }, headers));
      if (res.records.length >= n) return res.records;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`fewer than ${n} decisions logged`);
  }

  beforeAll(async () => {
    f = await startGrpcFixture();
    home = tempDir();
    expectOk(await f.c.admin.call("putPolicy", { document: POLICY }, f.admin));
    for (let i = 0; i < 3; i++) expectOk(await ask("audit:read", `r${i}`));
    expectOk(await ask("reports:delete", "r9"));
  });
  afterAll(async () => {
    await f?.close();
    home?.cleanup();
  });

  it("answers the caller's org only, filtered, and needs audit:read", async () => {
    const mine = await decisions(f.admin, 4);
    expect(mine.map((d) => [d.scope, d.resourceId, d.allowed])).toEqual([
      ["audit:read", "r0", true],
      ["audit:read", "r1", true],
      ["audit:read", "r2", true],
      ["reports:delete", "r9", false],
    ]);
    expect(mine.every((d) => d.subjectId === f.agentId && d.rule !== undefined)).toBe(true);
    const denied = await decisions(f.admin, 1, { decision: DecisionFilter.DENY });
    expect(denied.map((d) => d.resourceId)).toEqual(["r9"]);
    const rule = mine[0]?.rule ?? "";
    expect(rule).toContain("reads");
    const byRule = await decisions(f.admin, 3, { rule, resourceKind: "report" });
    expect(byRule.map((d) => d.resourceId)).toEqual(["r0", "r1", "r2"]);
    // The other org sees none of them.
    const theirs = expectOk(await f.c.admin.call("queryDecisions", { limit: 1000 }, adminHeaders(f.other)));
    expect(theirs.records).toEqual([]);
    // A key without audit:read may not ask; one with it may.
    const writer = expectOk(
      await f.c.admin.call("createApiKey", { name: "w", scopes: ["policies:manage"] }, f.admin),
    );
    expectFailure(
      await f.c.admin.call("queryDecisions", {}, { "x-api-key": writer.apiKey }),
      grpc.status.PERMISSION_DENIED,
      "API_KEY_SCOPE_MISSING",
    );
    const reader = expectOk(
      await f.c.admin.call("createApiKey", { name: "r", scopes: ["audit:read"] }, f.admin),
    );
    expect((await decisions({ "x-api-key": reader.apiKey }, 4)).length).toBe(4);
  });

  it("tessera decisions query --json prints one JSON object per line; audit query too", async () => {
    await decisions(f.admin, 4);
    const res = await runTessera(
      ["decisions", "query", "--decision", "allow", ...cliFlags(f.server), "--json"],
      cliEnv(home.dir),
      home.dir,
    );
    expect(res.code).toBe(0);
    const lines = res.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.decision, (l.resource as { id: string }).id])).toEqual([
      ["ALLOW", "r0"],
      ["ALLOW", "r1"],
      ["ALLOW", "r2"],
    ]);
    const audit = await runTessera(
      ["audit", "query", "--action", "policy.change", ...cliFlags(f.server), "--json"],
      cliEnv(home.dir),
      home.dir,
    );
    expect(audit.code).toBe(0);
    const records = audit.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    // The development org's example policy (put by the server at start), then ours.
    expect(records.map((r) => [r.action, r.actor === "server" ? "server" : r.authMethod])).toEqual([
      ["policy.change", "server"],
      ["policy.change", "admin_token"],
    ]);
  });

  it("tessera decisions tail follows new decisions and exits 0 on SIGINT", async () => {
    // From now: however long the CLI takes to start, what is decided from here on is followed.
    await decisions(f.admin, 4);
    await new Promise((r) => setTimeout(r, 20));
    const start = new Date().toISOString();
    const child = spawn(
      process.execPath,
      [
        TESSERA_BIN,
        "decisions",
        "tail",
        "--since",
        start,
        "--interval",
        "100",
        ...cliFlags(f.server),
        "--json",
      ],
      { env: cliEnv(home.dir), cwd: home.dir, stdio: ["ignore", "pipe", "pipe"] },
    );
    const seen: string[] = [];
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    createInterface({ input: child.stdout }).on("line", (l) => {
      seen.push((JSON.parse(l) as { resource: { id: string } }).resource.id);
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    // Decisions made before --since are not printed; those made after are, in order.
    await new Promise((r) => setTimeout(r, 300));
    for (const id of ["t1", "t2"]) expectOk(await ask("audit:read", id));
    for (let i = 0; i < 100 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    expect({ seen, stderr }).toEqual({ seen: ["t1", "t2"], stderr: "" });
    child.kill("SIGINT");
    expect(await exited).toBe(0);
  });
});
