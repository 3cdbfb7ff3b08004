import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { type ServeProcess, spawnCluster } from "../helpers/cli.js";
import { expectOk } from "../helpers/e2e.js";
import { freshAuthClient, grpcClient } from "../helpers/grpc-client.js";
import { childrenOf } from "../helpers/processes.js";
import { tempDir } from "../helpers/server.js";
import { clientsForEveryWorker, type PerWorker, untilEveryWorker } from "../helpers/workers.js";

const CONNECTIONS = 8;
const ROUNDS = 3;
const REVOKES_PER_ROUND = 6;
const REFUSED = "UNAUTHENTICATED TOKEN_REVOKED";

/**
 * Issue #11, "every worker current": workers are killed and replaced in a loop while tokens are
 * revoked, some of them while a replacement is still loading its state. One second after each
 * revocation no fresh connection, and once every replacement is up no worker (each asked on a
 * connection of its own), may still accept a revoked token (the sync cursor is taken before the
 * state is loaded, so a worker that starts meanwhile misses nothing).
 */
describe("serve --workers 2: workers killed and replaced while tokens are revoked", () => {
  const data = tempDir();
  let serve: ServeProcess;
  let port = 0;
  let admin: Record<string, string>;
  let adminClient: ReturnType<typeof grpcClient<typeof AdminService.method>>;
  let agentId = "";

  beforeAll(async () => {
    ({ serve, port, admin: admin } = await spawnCluster(data.dir));
    adminClient = grpcClient(AdminService, `127.0.0.1:${port}`);
    agentId =
      expectOk(
        await adminClient.call("createAgent", { name: "a", tier: Tier.VERIFIED, roles: ["viewer"] }, admin),
      ).agent?.id ?? "";
  });
  afterAll(async () => {
    adminClient?.close();
    await serve.stop();
    data.cleanup();
  });

  async function mint(): Promise<string> {
    const c = freshAuthClient(port);
    const res = expectOk(
      await c.call("mintToken", { agentId, scopes: ["governance:read"], ttl: { seconds: 600n } }, admin),
    );
    c.close();
    return res.token;
  }

  async function revoke(token: string): Promise<void> {
    const c = freshAuthClient(port);
    expectOk(await c.call("revokeToken", { token }, { "x-api-key": admin["x-api-key"] ?? "" }));
    c.close();
  }

  /** What Authorize with the token answers on the client's connection: the reason, or the failure. */
  async function answer(c: ReturnType<typeof freshAuthClient>, token: string): Promise<string> {
    const r = await c.call("authorize", {
      subject: { case: "token", value: token },
      scope: "governance:read",
    });
    return r.ok ? r.value.reason : `${grpc.status[r.error.code]} ${r.error.reason}`;
  }

  /** What fresh connections (whichever worker the kernel picks, one that is up) answer for the token. */
  async function answers(token: string): Promise<string[]> {
    const clients = Array.from({ length: CONNECTIONS }, () => freshAuthClient(port));
    const results = await Promise.all(clients.map((c) => answer(c, token)));
    for (const c of clients) c.close();
    return results;
  }

  /** What each of the two workers running now answers for each token. */
  async function answersOnEveryWorker(tokens: readonly string[]): Promise<PerWorker<string[]>> {
    const workers = await clientsForEveryWorker(port, 2);
    try {
      return await workers.each(async (c) => {
        const out: string[] = [];
        for (const token of tokens) out.push(await answer(c, token));
        return out;
      });
    } finally {
      workers.close();
    }
  }

  const workersUp = async (): Promise<void> => {
    const until = Date.now() + 20_000;
    while (childrenOf(serve.child.pid ?? 0).length < 2 && Date.now() < until)
      await new Promise((r) => setTimeout(r, 100));
    // A forked worker needs a moment more to load and listen.
    await new Promise((r) => setTimeout(r, 2500));
  };

  it("never accepts a revoked token one second after its revocation, nor after replacements start", async () => {
    const revoked: string[] = [];
    const stale: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const tokens = await Promise.all(Array.from({ length: REVOKES_PER_ROUND }, mint));
      const [victim] = childrenOf(serve.child.pid ?? 0);
      expect(victim).toBeGreaterThan(0);
      process.kill(victim as number, "SIGKILL");
      // Revoked while the replacement forks and loads: the window the cursor bug lived in.
      for (const token of tokens) {
        await revoke(token);
        revoked.push(token);
        await new Promise((r) => setTimeout(r, 150));
      }
      await new Promise((r) => setTimeout(r, 1000));
      for (const token of tokens)
        for (const a of await answers(token)) if (a === "ALLOWED_BY_RULE") stale.push(`round ${round}`);
      await workersUp();
      // The replacement and the survivor, each on a connection of its own: a revocation through
      // the replacement (the newest worker id) reaches the survivor within a second, and each
      // refuses every token revoked so far.
      const workers = await clientsForEveryWorker(port, 2);
      try {
        const token = await mint();
        expect(await workers.each((c) => answer(c, token))).toEqual(workers.all("ALLOWED_BY_RULE"));
        const replacement = workers.client(workers.ids.at(-1) ?? 0);
        expectOk(await replacement.call("revokeToken", { token }, { "x-api-key": admin["x-api-key"] ?? "" }));
        revoked.push(token);
        const refusedAll = revoked.map(() => REFUSED);
        const each = (c: ReturnType<typeof freshAuthClient>) => Promise.all(revoked.map((t) => answer(c, t)));
        for (const [id, seen] of Object.entries(await untilEveryWorker(workers, each, refusedAll, 1000)))
          if (seen.includes("ALLOWED_BY_RULE")) stale.push(`round ${round}, worker ${id}`);
      } finally {
        workers.close();
      }
    }
    expect(stale).toEqual([]);
    // Every answer on every worker was a refusal for revocation, never a lost call.
    const last = await answersOnEveryWorker(revoked);
    expect(Object.values(last)).toEqual(Array(2).fill(revoked.map(() => REFUSED)));
  }, 120_000);
});
