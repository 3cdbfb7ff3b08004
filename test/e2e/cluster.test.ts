import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { cliEnv, runTessera, type ServeProcess, spawnServe } from "../helpers/cli.js";
import { expectOk } from "../helpers/e2e.js";
import { freshAuthClient, grpcClient } from "../helpers/grpc-client.js";
import { tempDir } from "../helpers/server.js";
import { clientsForEveryWorker, untilEveryWorker, type WorkerClients } from "../helpers/workers.js";

const EXTRA = `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: extra }
spec:
  rules:
    - { name: reports, scopes: ["reports:read"], effect: allow, roles: [viewer] }
`;

describe("serve --workers 2", () => {
  const data = tempDir();
  let serve: ServeProcess;
  let port = 0;
  let apiKey = "";
  let adminToken = "";
  /** A connection to each worker, so every worker is asked, not whichever the kernel picks. */
  let workers: WorkerClients;

  beforeAll(async () => {
    serve = spawnServe(
      ["--data-dir", data.dir, "--grpc-port", "0", "--http-port", "0", "--workers", "2"],
      cliEnv(data.dir),
    );
    const ready = await serve.ready;
    port = ready.grpcPort;
    apiKey = ready.exports.TESSERA_API_KEY ?? "";
    adminToken = ready.exports.TESSERA_ADMIN_TOKEN ?? "";
    workers = await clientsForEveryWorker(port, 2);
  });
  afterAll(async () => {
    workers?.close();
    expect(await serve.stop()).toBe(0);
    data.cleanup();
  });

  /** What a worker decides for a viewer asking reports:read (allowed only by the EXTRA policy). */
  async function decision(c: ReturnType<typeof freshAuthClient>): Promise<Decision> {
    const res = await c.call(
      "authorize",
      {
        subject: { case: "attributes", value: { id: "a", tier: Tier.VERIFIED, roles: ["viewer"] } },
        scope: "reports:read",
      },
      { "x-api-key": apiKey },
    );
    return expectOk(res).decision;
  }

  it("creates one dev org and one active + one next signing key however many workers start", async () => {
    const c = freshAuthClient(port);
    const jwks = expectOk(await c.call("getJwks", {}));
    c.close();
    expect(jwks.keys).toHaveLength(2);
    expect(apiKey).toMatch(/^tsk_/);
  });

  it("reports both workers in GetServerStatus, which one answered, and the org's revision on each", async () => {
    // Reaching each worker is itself the check that the two answer with different worker ids.
    const statuses = await workers.each(async (c) =>
      expectOk(await c.call("getServerStatus", {}, { "x-api-key": apiKey })),
    );
    expect(workers.ids).toHaveLength(2);
    for (const id of workers.ids) {
      expect(statuses[id]).toMatchObject({ serving: true, workers: 2, workerId: id, policyRevision: 1n });
      expect(statuses[id]?.orgId).toMatch(/^org_/);
    }
    // Operators see it too: `tessera status` names the worker that answered.
    const run = await runTessera(
      ["--server", `http://127.0.0.1:${port}`, "status", "--json"],
      cliEnv(data.dir),
    );
    expect(run.code, run.stderr).toBe(0);
    expect(workers.ids).toContain((JSON.parse(run.stdout) as { workerId: number }).workerId);
    const text = await runTessera(["--server", `http://127.0.0.1:${port}`, "status"], cliEnv(data.dir));
    expect(text.stdout).toMatch(/, 2 workers, up .*, answered by worker \d+\n/);
  });

  it("deals gRPC connections to the workers in turn, so a few long-lived ones are shared evenly", async () => {
    // Left to the kernel (workers accepting from one shared socket), connections opened one
    // after another mostly reach the same worker: 4/0 and 3/1 splits of four were common.
    const seen: number[] = [];
    for (let i = 0; i < 8; i++) {
      const c = freshAuthClient(port);
      seen.push(expectOk(await c.call("getServerStatus", {}, { "x-api-key": apiKey })).workerId);
      c.close();
    }
    const perWorker = workers.ids.map((id) => seen.filter((s) => s === id).length);
    expect(perWorker).toEqual([4, 4]);
  });

  it("applies a policy change made through one worker on every worker", async () => {
    expect(await workers.each(decision)).toEqual(workers.all(Decision.DENY));
    const admin = grpcClient(AdminService, `127.0.0.1:${port}`);
    expectOk(
      await admin.call(
        "putPolicy",
        { document: EXTRA },
        { "x-api-key": apiKey, "x-admin-token": adminToken },
      ),
    );
    admin.close();
    // Workers poll the change log every 25 ms; allow a generous bound, not a timing assertion.
    expect(await untilEveryWorker(workers, decision, Decision.ALLOW)).toEqual(workers.all(Decision.ALLOW));
  });
});
