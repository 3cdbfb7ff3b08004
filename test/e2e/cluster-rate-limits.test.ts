import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { type ServeProcess, spawnCluster } from "../helpers/cli.js";
import { expectFailure, expectOk } from "../helpers/e2e.js";
import { grpcClient } from "../helpers/grpc-client.js";
import { tempDir } from "../helpers/server.js";
import { clientsForEveryWorker, untilEveryWorker, type WorkerClients } from "../helpers/workers.js";

/*
 * Issue #13: a key's rate limit holds for the whole server, not per worker. Counted, not timed:
 * at 1 request per second with a burst of B, calls sent at once through both workers let B
 * through in all (plus one per whole second the burst took), never B per worker.
 */

const WORKERS = 2;
/** A policy written after the key, whose revision marks that every worker has seen the key. */
const MARKER = `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: marker }
spec:
  rules: []
`;
const BURST = 20;
/** Calls sent through each worker: each alone could take the whole burst. */
const PER_WORKER = BURST;

describe("serve --workers 2: a key's rate limit holds across workers", () => {
  const data = tempDir();
  let serve: ServeProcess;
  let port = 0;
  let admin: Record<string, string>;
  let workers: WorkerClients;
  let limitedKey = "";
  let limitedId = "";

  beforeAll(async () => {
    ({ serve, port, admin } = await spawnCluster(data.dir, WORKERS));
    workers = await clientsForEveryWorker(port, WORKERS);
    const c = grpcClient(AdminService, `127.0.0.1:${port}`);
    try {
      const created = expectOk(
        await c.call(
          "createApiKey",
          { name: "pep", scopes: ["decisions:evaluate"], rateLimit: { requestsPerSecond: 1, burst: BURST } },
          admin,
        ),
      );
      limitedKey = created.apiKey;
      limitedId = created.key?.id ?? "";
      // Workers apply the change log in order: once every worker is at a policy revision written
      // after the key, every worker holds its limit (a loaded machine lags by seconds, and a worker
      // without it let its whole share through).
      const put = expectOk(await c.call("putPolicy", { document: MARKER }, admin));
      const revisionOn = (w: ReturnType<WorkerClients["client"]>) =>
        w.call("getServerStatus", {}, admin).then((r) => expectOk(r).policyRevision);
      expect(await untilEveryWorker(workers, revisionOn, put.revision, 30_000)).toEqual(
        workers.all(put.revision),
      );
    } finally {
      c.close();
    }
  });
  afterAll(async () => {
    workers?.close();
    expect(await serve?.stop()).toBe(0);
    data.cleanup();
  });

  it("lets the key's burst through in all, refusing the rest with RATE_LIMITED on every worker", async () => {
    // GetServerStatus with the key: any RPC counts, and it needs no subject.
    const call = (c: ReturnType<WorkerClients["client"]>) =>
      c.call("getServerStatus", {}, { "x-api-key": limitedKey });
    const started = Date.now();
    const perWorker = await Promise.all(
      workers.ids.map((id) =>
        Promise.all(Array.from({ length: PER_WORKER }, () => call(workers.client(id)))),
      ),
    );
    const seconds = Math.floor((Date.now() - started) / 1000);
    const passed = perWorker.flat().filter((r) => r.ok).length;
    // Within 10% of the configured limit (here exact: at this rate a worker leases one token at a time).
    expect(passed).toBeGreaterThanOrEqual(Math.floor(BURST * 0.9));
    expect(passed).toBeLessThanOrEqual(BURST + seconds);
    // Both workers did let calls through and refuse others: the buckets are shared, not split.
    const refusedOn = perWorker.map((rs) => rs.find((r) => !r.ok));
    for (const refused of refusedOn) {
      if (!refused) continue;
      expectFailure(refused, grpc.status.RESOURCE_EXHAUSTED, "RATE_LIMITED");
    }
    expect(refusedOn.some(Boolean)).toBe(true);
  });

  it("logs the key's first use from this address once per worker, by id, never the secret", async () => {
    // Pino writes each line at once; give the workers a moment to have written theirs.
    const deadline = Date.now() + 5_000;
    const lines = () =>
      serve
        .stdout()
        .split("\n")
        .filter((l) => l.includes("credential used from a new source") && l.includes(`api_key:${limitedId}`));
    while (lines().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(lines().length).toBeGreaterThanOrEqual(1);
    expect(lines().length).toBeLessThanOrEqual(WORKERS);
    expect(lines().join("\n")).toContain("127.0.0.1");
    expect(serve.stdout() + serve.stderr()).not.toContain(limitedKey);
  });
});
