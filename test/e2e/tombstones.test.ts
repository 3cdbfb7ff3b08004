import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import type { NewOrg } from "../../src/core/bootstrap.js";
import { adminHeaders, expectFailure, expectOk } from "../helpers/e2e.js";
import { grpcClients } from "../helpers/grpc-fixture.js";
import { startTestServer, type TestServer, tempDir } from "../helpers/server.js";

/**
 * Issue #9, finding 5: a deleted agent's tokens worked again after a restart or in a new
 * worker, because the set of deleted agents lived only in memory. It is stored now (a
 * tombstone written with the deletion), so every process that starts later refuses them too.
 */
describe("a deleted agent's tokens stay dead across restarts and new processes", () => {
  let data: ReturnType<typeof tempDir>;
  let org: NewOrg;
  let token = "";
  let delegated = "";
  let servers: TestServer[] = [];

  const authorize = (s: TestServer, t: string) =>
    grpcClients(`127.0.0.1:${s.grpcPort}`).auth.call("authorize", {
      subject: { case: "token", value: t },
      scope: "governance:read",
    });

  beforeAll(async () => {
    data = tempDir("tessera-tombstone-");
    const first = await startTestServer({}, data.dir);
    servers.push(first);
    org = first.org;
    const c = grpcClients(`127.0.0.1:${first.grpcPort}`);
    const admin = adminHeaders(org);
    const agent = expectOk(
      await c.admin.call("createAgent", { name: "doomed", tier: Tier.VERIFIED, roles: ["viewer"] }, admin),
    ).agent;
    const child = expectOk(
      await c.admin.call(
        "createAgent",
        { name: "child", roles: ["viewer"], parentId: agent?.id ?? "" },
        admin,
      ),
    ).agent;
    token = expectOk(
      await c.auth.call(
        "mintToken",
        { agentId: agent?.id ?? "", scopes: ["governance:*"], ttl: { seconds: 600n } },
        admin,
      ),
    ).token;
    delegated = expectOk(
      await c.auth.call(
        "mintToken",
        { agentId: child?.id ?? "", scopes: ["governance:read"] },
        {
          authorization: `Bearer ${token}`,
        },
      ),
    ).token;
    expectOk(await authorize(first, token));
    expectOk(await c.admin.call("deleteAgent", { id: agent?.id ?? "" }, admin));
    expectFailure(await authorize(first, token), grpc.status.UNAUTHENTICATED, "TOKEN_REVOKED");
    await first.stop({ keepData: true });
    servers = [];
  });

  afterAll(async () => {
    for (const s of servers) await s.stop({ keepData: true });
    data.cleanup();
  });

  it("refuses the deleted agent's token, and one delegated by it, after a restart", async () => {
    const restarted = await startTestServer({}, data.dir);
    servers.push(restarted);
    expectFailure(await authorize(restarted, token), grpc.status.UNAUTHENTICATED, "TOKEN_REVOKED");
    expectFailure(await authorize(restarted, delegated), grpc.status.UNAUTHENTICATED, "TOKEN_REVOKED");
  });

  it("refuses them in a second process started later on the same data directory", async () => {
    const another = await startTestServer({}, data.dir);
    servers.push(another);
    expectFailure(await authorize(another, token), grpc.status.UNAUTHENTICATED, "TOKEN_REVOKED");
    expect(servers.length).toBeGreaterThan(0);
  });
});
