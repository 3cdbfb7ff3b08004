import { execFile, execFileSync } from "node:child_process";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { startTestServer, type TestServer, tempDir } from "../helpers/server.js";

// buf is a development tool that `npm install` does not fetch: scripts/tool.mjs installs the
// pinned version on first use (CI's lint step has done it already), then runs it offline.
const TOOL = join(process.cwd(), "scripts", "tool.mjs");
const ATTRIBUTES_BODY =
  '{"attributes":{"id":"agent_abc123","tier":"TIER_VERIFIED","roles":["operator"]},"scope":"governance:propose","resource":{"kind":"tool","id":"t1","attr":{"env":"staging"}}}';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

describe("buf curl against the plaintext gRPC port (server reflection)", () => {
  let server: TestServer;
  let url: string;
  // buf writes a cache under $HOME; keep it out of the real home directory.
  let home: ReturnType<typeof tempDir>;

  /** Runs `buf curl --protocol grpc --http2-prior-knowledge …args`. */
  function bufCurl(args: string[]): Promise<Run> {
    const argv = ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args];
    const env = { PATH: process.env.PATH ?? "", HOME: home.dir, BUF_CACHE_DIR: join(home.dir, "cache") };
    return new Promise((resolve) => {
      execFile(process.execPath, [TOOL, "buf", ...argv], { timeout: 15_000, env }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  beforeAll(async () => {
    execFileSync(process.execPath, [TOOL, "--install", "buf"], { stdio: "inherit", timeout: 240_000 });
    home = tempDir("tessera-buf-home-");
    server = await startTestServer();
    url = `http://127.0.0.1:${server.grpcPort}`;
  }, 300_000);
  afterAll(async () => {
    await server?.stop();
    home?.cleanup();
  });

  it.each([[[]], [["--reflect-protocol", "grpc-v1"]], [["--reflect-protocol", "grpc-v1alpha"]]])(
    "lists every method through server reflection (%j)",
    async (extra) => {
      const run = await bufCurl([...extra, "--list-methods", url]);
      expect(run.code, run.stderr).toBe(0);
      const methods = run.stdout.trim().split("\n");
      expect(methods).toEqual(
        expect.arrayContaining([
          "tessera.v1.AuthService/Authorize",
          "tessera.v1.AuthService/MintToken",
          "tessera.v1.AuthService/Authenticate",
          "tessera.v1.AdminService/CreateAgent",
          "tessera.v1.SystemService/AssignIdentityNamespace",
          "grpc.health.v1.Health/Check",
          "envoy.service.auth.v3.Authorization/Check",
        ]),
      );
    },
  );

  it.each([[[]], [["--reflect-protocol", "grpc-v1alpha"]]])(
    "calls Authorize with the issue's JSON and gets DECISION_ALLOW (%j)",
    async (extra) => {
      const run = await bufCurl([
        ...extra,
        "-H",
        `x-api-key: ${server.org.apiKey}`,
        "-d",
        ATTRIBUTES_BODY,
        `${url}/tessera.v1.AuthService/Authorize`,
      ]);
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({
        decision: "DECISION_ALLOW",
        reason: "ALLOWED_BY_RULE",
        rule: "example/propose",
      });
    },
  );

  it("reports a refusal with code unauthenticated and the ErrorInfo reason", async () => {
    const run = await bufCurl([
      "-H",
      "x-api-key: tsk_bad",
      "-d",
      ATTRIBUTES_BODY,
      `${url}/tessera.v1.AuthService/Authorize`,
    ]);
    expect(run.code).not.toBe(0);
    const err = JSON.parse(run.stderr) as { code: string; details: { type: string; value: string }[] };
    expect(err.code).toBe("unauthenticated");
    const info = err.details.find((d) => d.type === "google.rpc.ErrorInfo");
    expect(fromBinary(ErrorInfoSchema, Buffer.from(info?.value ?? "", "base64")).reason).toBe(
      "API_KEY_MALFORMED",
    );
  });

  it("calls Health/Check", async () => {
    const run = await bufCurl(["-d", "{}", `${url}/grpc.health.v1.Health/Check`]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ status: "SERVING" });
  });
});
