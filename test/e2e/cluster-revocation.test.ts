import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { type ServeProcess, spawnCluster } from "../helpers/cli.js";
import { expectOk } from "../helpers/e2e.js";
import { freshAuthClient, grpcClient } from "../helpers/grpc-client.js";
import { tempDir } from "../helpers/server.js";
import { clientsForEveryWorker, untilEveryWorker, type WorkerClients } from "../helpers/workers.js";

const WORKERS = 2;

describe("serve --workers 2: a revocation or suspension reaches every worker", () => {
  const data = tempDir();
  let serve: ServeProcess;
  let port = 0;
  let admin: Record<string, string>;
  let adminClient: ReturnType<typeof grpcClient<typeof AdminService.method>>;
  /** A connection to each worker, so every worker is asked, not whichever the kernel picks. */
  let workers: WorkerClients;

  beforeAll(async () => {
    ({ serve, port, admin: admin } = await spawnCluster(data.dir, WORKERS));
    adminClient = grpcClient(AdminService, `127.0.0.1:${port}`);
    workers = await clientsForEveryWorker(port, WORKERS);
  });
  afterAll(async () => {
    workers?.close();
    adminClient?.close();
    expect(await serve.stop()).toBe(0);
    data.cleanup();
  });

  /** A new agent and a token for it, minted through one connection. */
  async function agentToken(name: string): Promise<{ agentId: string; token: string }> {
    const created = expectOk(
      await adminClient.call("createAgent", { name, tier: Tier.VERIFIED, roles: ["operator"] }, admin),
    );
    const agentId = created.agent?.id ?? "";
    const c = freshAuthClient(port);
    const minted = expectOk(
      await c.call("mintToken", { agentId, scopes: ["governance:read"], ttl: { seconds: 600n } }, admin),
    );
    c.close();
    return { agentId, token: minted.token };
  }

  /** What Authorize with the token answers on a worker: the reason, or the failure's code and reason. */
  const answer = (token: string) => async (c: ReturnType<typeof freshAuthClient>) => {
    const r = await c.call("authorize", {
      subject: { case: "token", value: token },
      scope: "governance:read",
    });
    return r.ok ? r.value.reason : `${grpc.status[r.error.code]} ${r.error.reason}`;
  };

  it("RevokeToken through one worker refuses the token on every worker", async () => {
    const { token } = await agentToken("revoked");
    expect(await workers.each(answer(token))).toEqual(workers.all("ALLOWED_BY_RULE"));
    // Through the first worker: the others can only learn it from the change log.
    const one = workers.client(workers.ids[0] ?? 0);
    expectOk(await one.call("revokeToken", { token }, { "x-api-key": admin["x-api-key"] ?? "" }));
    const seen = await untilEveryWorker(workers, answer(token), "UNAUTHENTICATED TOKEN_REVOKED");
    expect(seen).toEqual(workers.all("UNAUTHENTICATED TOKEN_REVOKED"));
  });

  it("revoking a subject token through one worker ends the token Authorize minted from it, on every worker", async () => {
    const { token } = await agentToken("decide-and-mint");
    const c = freshAuthClient(port);
    const minted = expectOk(
      await c.call("authorize", {
        subject: { case: "token", value: token },
        scope: "governance:read",
        mint: { ttl: { seconds: 300n } },
      }),
    ).token;
    c.close();
    expect(await workers.each(answer(minted))).toEqual(workers.all("ALLOWED_BY_RULE"));
    const one = workers.client(workers.ids[0] ?? 0);
    expectOk(await one.call("revokeToken", { token }, { "x-api-key": admin["x-api-key"] ?? "" }));
    const seen = await untilEveryWorker(workers, answer(minted), "UNAUTHENTICATED TOKEN_REVOKED");
    expect(seen).toEqual(workers.all("UNAUTHENTICATED TOKEN_REVOKED"));
  });

  it("SuspendAgent through one connection refuses its tokens on every worker", async () => {
    const { agentId, token } = await agentToken("suspended");
    expect(await workers.each(answer(token))).toEqual(workers.all("ALLOWED_BY_RULE"));
    expectOk(await adminClient.call("suspendAgent", { id: agentId }, admin));
    const seen = await untilEveryWorker(workers, answer(token), "UNAUTHENTICATED AGENT_SUSPENDED");
    expect(seen).toEqual(workers.all("UNAUTHENTICATED AGENT_SUSPENDED"));
  });
});
