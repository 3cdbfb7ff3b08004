import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { type ServeProcess, spawnCluster } from "../helpers/cli.js";
import { expectOk } from "../helpers/e2e.js";
import { freshAuthClient, grpcClient } from "../helpers/grpc-client.js";
import { tempDir } from "../helpers/server.js";

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

  beforeAll(async () => {
    ({ serve, port, admin: headers } = await spawnCluster(data.dir));
  });
  afterAll(async () => {
    expect(await serve.stop()).toBe(0);
    data.cleanup();
  });

  /** Each document's scope asked on a fresh connection (so either worker may answer): decision@revision. */
  async function decisions(): Promise<string[]> {
    const out: string[] = [];
    for (const name of NAMES) {
      const c = freshAuthClient(port);
      const res = await c.call(
        "authorize",
        {
          subject: { case: "attributes", value: { id: "a", tier: Tier.VERIFIED, roles: [] } },
          scope: `${name}:read`,
        },
        { "x-api-key": headers["x-api-key"] ?? "" },
      );
      c.close();
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
    const deadline = Date.now() + 5000;
    let seen: string[][] = [];
    do {
      seen = [await decisions(), await decisions()];
    } while (seen.some((s) => s.join() !== want.join()) && Date.now() < deadline);
    expect(seen).toEqual([want, want]);
  });
});
