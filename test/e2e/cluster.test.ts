import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { cliEnv, type ServeProcess, spawnServe } from "../helpers/cli.js";
import { expectOk } from "../helpers/e2e.js";
import { freshAuthClient, grpcClient } from "../helpers/grpc-client.js";
import { tempDir } from "../helpers/server.js";

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

  beforeAll(async () => {
    serve = spawnServe(
      ["--data-dir", data.dir, "--grpc-port", "0", "--http-port", "0", "--workers", "2"],
      cliEnv(data.dir),
    );
    const ready = await serve.ready;
    port = ready.grpcPort;
    apiKey = ready.exports.TESSERA_API_KEY ?? "";
    adminToken = ready.exports.TESSERA_ADMIN_TOKEN ?? "";
  });
  afterAll(async () => {
    expect(await serve.stop()).toBe(0);
    data.cleanup();
  });

  async function decisionsOnFreshConnections(n: number): Promise<Decision[]> {
    const out: Decision[] = [];
    for (let i = 0; i < n; i++) {
      const c = freshAuthClient(port);
      const res = await c.call(
        "authorize",
        {
          subject: { case: "attributes", value: { id: "a", tier: Tier.VERIFIED, roles: ["viewer"] } },
          scope: "reports:read",
        },
        { "x-api-key": apiKey },
      );
      c.close();
      out.push(expectOk(res).decision);
    }
    return out;
  }

  it("creates one dev org and one active + one next signing key however many workers start", async () => {
    const c = freshAuthClient(port);
    const jwks = expectOk(await c.call("getJwks", {}));
    c.close();
    expect(jwks.keys).toHaveLength(2);
    expect(apiKey).toMatch(/^tsk_/);
  });

  it("reports both workers in GetServerStatus, and the org's revision, from whichever worker answers", async () => {
    for (let i = 0; i < 4; i++) {
      const c = freshAuthClient(port);
      const status = expectOk(await c.call("getServerStatus", {}, { "x-api-key": apiKey }));
      c.close();
      expect(status).toMatchObject({ serving: true, workers: 2, policyRevision: 1n });
      expect(status.orgId).toMatch(/^org_/);
    }
  });

  it("applies a policy change made through one worker on every worker", async () => {
    expect(await decisionsOnFreshConnections(6)).toEqual(Array(6).fill(Decision.DENY));
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
    const deadline = Date.now() + 2000;
    let seen = await decisionsOnFreshConnections(6);
    while (seen.some((d) => d !== Decision.ALLOW) && Date.now() < deadline)
      seen = await decisionsOnFreshConnections(6);
    expect(seen).toEqual(Array(6).fill(Decision.ALLOW));
  });
});
