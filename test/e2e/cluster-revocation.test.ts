import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { type ServeProcess, spawnCluster } from "../helpers/cli.js";
import { expectOk } from "../helpers/e2e.js";
import { freshAuthClient, grpcClient } from "../helpers/grpc-client.js";
import { tempDir } from "../helpers/server.js";

const CONNECTIONS = 8;
const BOUND_MS = 2000;

describe("serve --workers 2: a revocation or suspension reaches every worker", () => {
  const data = tempDir();
  let serve: ServeProcess;
  let port = 0;
  let admin: Record<string, string>;
  let adminClient: ReturnType<typeof grpcClient<typeof AdminService.method>>;

  beforeAll(async () => {
    ({ serve, port, admin: admin } = await spawnCluster(data.dir));
    adminClient = grpcClient(AdminService, `127.0.0.1:${port}`);
  });
  afterAll(async () => {
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

  /** What Authorize with the token answers on each of `CONNECTIONS` fresh connections. */
  async function answers(token: string): Promise<string[]> {
    const clients = Array.from({ length: CONNECTIONS }, () => freshAuthClient(port));
    const results = await Promise.all(
      clients.map((c) =>
        c.call("authorize", { subject: { case: "token", value: token }, scope: "governance:read" }),
      ),
    );
    for (const c of clients) c.close();
    return results.map((r) => (r.ok ? r.value.reason : `${grpc.status[r.error.code]} ${r.error.reason}`));
  }

  /** Polls until every fresh connection gives `expected`, for at most BOUND_MS; returns the last answers. */
  async function settle(token: string, expected: string): Promise<{ seen: string[]; ms: number }> {
    const start = Date.now();
    let seen = await answers(token);
    while (seen.some((a) => a !== expected) && Date.now() - start < BOUND_MS) seen = await answers(token);
    return { seen, ms: Date.now() - start };
  }

  it("RevokeToken through one connection refuses the token on every fresh connection", async () => {
    const { token } = await agentToken("revoked");
    expect(await answers(token)).toEqual(Array(CONNECTIONS).fill("ALLOWED_BY_RULE"));
    const one = freshAuthClient(port);
    expectOk(await one.call("revokeToken", { token }, { "x-api-key": admin["x-api-key"] ?? "" }));
    one.close();
    const { seen } = await settle(token, "UNAUTHENTICATED TOKEN_REVOKED");
    expect(seen).toEqual(Array(CONNECTIONS).fill("UNAUTHENTICATED TOKEN_REVOKED"));
  });

  it("SuspendAgent through one connection refuses its tokens on every fresh connection", async () => {
    const { agentId, token } = await agentToken("suspended");
    expect(await answers(token)).toEqual(Array(CONNECTIONS).fill("ALLOWED_BY_RULE"));
    expectOk(await adminClient.call("suspendAgent", { id: agentId }, admin));
    const { seen } = await settle(token, "UNAUTHENTICATED AGENT_SUSPENDED");
    expect(seen).toEqual(Array(CONNECTIONS).fill("UNAUTHENTICATED AGENT_SUSPENDED"));
  });
});
