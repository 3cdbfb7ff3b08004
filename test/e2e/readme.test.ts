import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, type ServeProcess, spawnServe } from "../helpers/cli.js";
import { tempDir } from "../helpers/server.js";

/** The shell blocks of the README marked `<!-- runnable -->`, in order. */
function runnableBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/<!-- runnable -->\n```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
}

function bash(
  script: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("bash", ["-c", script], { env, cwd: process.cwd(), timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/**
 * Issue #10: every README block marked runnable runs as written, against a real server started
 * the way `npm start` starts it (its ports swapped for free ones, its data in a temporary
 * directory named by TESSERA_DATA_DIR, which the blocks honour), so the walk-through cannot drift.
 */
describe("the README's runnable blocks", () => {
  const home = tempDir("tessera-readme-");
  const data = join(home.dir, "data");
  const env = cliEnv(home.dir, { TESSERA_DATA_DIR: data });
  let serve: ServeProcess;
  let ports = { grpcPort: 0, httpPort: 0 };

  beforeAll(async () => {
    serve = spawnServe(["--grpc-port", "0", "--http-port", "0", "--workers", "1"], env);
    ports = await serve.ready;
  });
  afterAll(async () => {
    await serve?.stop();
    home.cleanup();
  });

  it("finds the walk-through's blocks", () => {
    const blocks = runnableBlocks(readFileSync("README.md", "utf8"));
    expect(blocks.length).toBeGreaterThanOrEqual(6);
  });

  it("runs them in order, and they show what the README says", async () => {
    const script = runnableBlocks(readFileSync("README.md", "utf8"))
      .join("\n")
      .replaceAll("127.0.0.1:50051", `127.0.0.1:${ports.grpcPort}`)
      .replaceAll("127.0.0.1:8080", `127.0.0.1:${ports.httpPort}`);
    const run = await bash(`set -euo pipefail\n${script}`, env);
    expect(run.code, `${run.stderr}\n${run.stdout}`).toBe(0);
    expect(run.stdout).toMatch(/SERVING/);
    expect(run.stdout).toMatch(/scout\s+tier=verified/);
    expect(run.stdout).toMatch(/^ALLOW\s+reason=ALLOWED_BY_RULE\s+rule=example\/propose/m);
    expect(run.stdout).toMatch(/^DENY\s+reason=NO_MATCHING_RULE/m);
    expect(run.stdout).toContain("exit code 3");
    expect(run.stdout).toContain("tessera.v1.AuthService/Authorize");
    expect(run.stdout).toMatch(/"decision":\s*"DECISION_ALLOW"/);
    expect(run.stdout).toMatch(/"decision":"DECISION_DENY","reason":"NO_MATCHING_RULE"/);
    // AuthZEN: the agent by its id, then a batch of an allow and a deny.
    expect(run.stdout).toMatch(/\{"decision":true,"context":\{[^\n]*"rule":"example\/propose"/);
    expect(run.stdout).toMatch(/\{"evaluations":\[\{"decision":true,[^\n]*\{"decision":false,/);
  }, 180_000);
});
