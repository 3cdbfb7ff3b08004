import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { type ServeProcess, spawnCluster } from "../helpers/cli.js";
import { expectOk } from "../helpers/e2e.js";
import { type freshAuthClient, grpcClient } from "../helpers/grpc-client.js";
import { tempDir } from "../helpers/server.js";
import { clientsForEveryWorker, untilEveryWorker, type WorkerClients } from "../helpers/workers.js";

const NAMES = ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"];
const doc = (name: string) => `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: ${name} }
spec:
  rules:
    - { name: r, scopes: ["${name}:read"], effect: allow }
`;

describe("serve --workers 2: concurrent PutPolicy (issue #9, finding 7)", () => {
  const data = tempDir();
  let serve: ServeProcess;
  let port = 0;
  let headers: Record<string, string> = {};
  /** A connection to each worker, so every worker is asked, not whichever the kernel picks. */
  let workers: WorkerClients;

  beforeAll(async () => {
    ({ serve, port, admin: headers } = await spawnCluster(data.dir, 2));
    workers = await clientsForEveryWorker(port, 2);
  });
  afterAll(async () => {
    workers?.close();
    expect(await serve.stop()).toBe(0);
    data.cleanup();
  });

  /** Each document's scope asked on one worker's connection: decision@revision. */
  async function decisions(c: ReturnType<typeof freshAuthClient>): Promise<string[]> {
    const out: string[] = [];
    for (const name of NAMES) {
      const res = await c.call(
        "authorize",
        {
          subject: { case: "attributes", value: { id: "a", tier: Tier.VERIFIED, roles: [] } },
          scope: `${name}:read`,
        },
        { "x-api-key": headers["x-api-key"] ?? "" },
      );
      const d = expectOk(res);
      out.push(`${name}:${d.decision === Decision.ALLOW}@${d.policyRevision}`);
    }
    return out;
  }

  it("ends with every worker deciding the same for the same revision", async () => {
    // Each put on its own connection, all at once: the workers commit them interleaved.
    const puts = await Promise.all(
      NAMES.map(async (name) => {
        const admin = grpcClient(AdminService, `127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
          "grpc.use_local_subchannel_pool": 1,
        });
        const res = await admin.call("putPolicy", { document: doc(name) }, headers);
        admin.close();
        return expectOk(res).revision;
      }),
    );
    // The example policy is revision 1; the eight puts are 2..9, each exactly once.
    expect(puts.map(Number).sort((x, y) => x - y)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    const want = NAMES.map((n) => `${n}:true@9`);
    // Workers poll the change log every 25 ms: allow a generous bound, not a timing assertion.
    expect(await untilEveryWorker(workers, decisions, want, 5000)).toEqual(workers.all(want));
  });
});
