import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import Database from "better-sqlite3";
import { describe, expect, it, vi } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Serving } from "../../gen/grpc/health/v1/health_pb.js";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { databasePath } from "../../src/store/db.js";
import type { DecisionRecord, OverflowSummary } from "../../src/store/decisions.js";
import { openStore } from "../../src/store/store.js";
import { cliEnv, spawnServe } from "../helpers/cli.js";
import { expectOk } from "../helpers/e2e.js";
import { grpcClient } from "../helpers/grpc-client.js";
import { startTestServer, tempDir } from "../helpers/server.js";

describe("decision log over a real server", () => {
  it("records every decision, with its id, by the time a graceful stop returns", async () => {
    const data = tempDir();
    const server = await startTestServer({}, data.dir);
    const client = grpcClient(AuthService, `127.0.0.1:${server.grpcPort}`);
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) {
      const res = await client.call(
        "authorize",
        {
          subject: {
            case: "attributes",
            value: { id: `agent_${i}`, tier: Tier.VERIFIED, roles: ["operator"] },
          },
          scope: i % 2 ? "governance:propose" : "audit:read",
          resource: { kind: "tool", id: `t${i}` },
        },
        { "x-api-key": server.org.apiKey },
      );
      ids.push(expectOk(res).decisionId);
    }
    client.close();
    await server.stop({ keepData: true });
    const store = openStore(data.dir);
    try {
      const logged = store.decisions.recent(server.org.orgId, 100);
      expect(logged.map((r) => r.id).sort()).toEqual([...ids].sort());
      const first = logged.find((r) => r.id === ids[1]);
      expect(first).toMatchObject({
        subjectId: "agent_1",
        scope: "governance:propose",
        resourceId: "t1",
        allowed: true,
        rule: "example/propose",
      });
      expect(logged.find((r) => r.id === ids[0])).toMatchObject({
        allowed: false,
        reason: "NO_MATCHING_RULE",
      });
    } finally {
      void store.close();
      data.cleanup();
    }
  });
});

describe("decision log in the built server", () => {
  it("writes every decision from its writer thread by the time the process exits", async () => {
    const data = tempDir();
    const serve = spawnServe(
      ["--data-dir", data.dir, "--grpc-port", "0", "--http-port", "0", "--workers", "1"],
      cliEnv(data.dir),
    );
    try {
      const ready = await serve.ready;
      const client = grpcClient(AuthService, `127.0.0.1:${ready.grpcPort}`);
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) {
        const res = await client.call(
          "authorize",
          {
            subject: { case: "attributes", value: { id: `a${i}`, tier: Tier.VERIFIED, roles: ["viewer"] } },
            scope: "governance:read",
          },
          { "x-api-key": ready.exports.TESSERA_API_KEY ?? "" },
        );
        ids.push(expectOk(res).decisionId);
      }
      client.close();
      expect(await serve.stop()).toBe(0);
      const store = openStore(data.dir);
      try {
        const logged = store.db
          .prepare<[], { id: string }>("SELECT id FROM decision_log")
          .all()
          .map((r) => r.id);
        expect(logged.sort()).toEqual([...ids].sort());
      } finally {
        void store.close();
      }
    } finally {
      data.cleanup();
    }
  });
});

describe("decision log when the database refuses writes (real server)", () => {
  it("spills: NOT_SERVING while it does, Authorize still answers, SERVING again once the spill is in, nothing lost or duplicated", async () => {
    const server = await startTestServer({ decisionLogSpillRetrySeconds: 1 });
    const address = `127.0.0.1:${server.grpcPort}`;
    const auth = grpcClient(AuthService, address);
    const health = grpcClient(Health, address);
    const watch = createClient(Health, createGrpcTransport({ baseUrl: `http://${address}` }));
    const abort = new AbortController();
    const watched = watch.watch({ service: "" }, { signal: abort.signal })[Symbol.asyncIterator]();
    const other = new Database(databasePath(server.dataDir));
    const ids: string[] = [];
    const authorize = async () => {
      const res = await auth.call(
        "authorize",
        {
          subject: {
            case: "attributes",
            value: { id: `agent_${ids.length}`, tier: Tier.VERIFIED, roles: ["viewer"] },
          },
          scope: "governance:read",
        },
        { "x-api-key": server.org.apiKey },
      );
      ids.push(expectOk(res).decisionId);
    };
    const status = async () => expectOk(await health.call("check", { service: "" })).status;
    const healthz = async () => (await fetch(`http://127.0.0.1:${server.httpPort}/healthz`)).status;
    try {
      expect((await watched.next()).value?.status).toBe(Serving.SERVING);
      for (let i = 0; i < 5; i++) await authorize();
      expect(await status()).toBe(Serving.SERVING);

      // A second connection makes every decision segment insert fail.
      other.exec(
        "CREATE TRIGGER refuse_decisions BEFORE INSERT ON decision_segments BEGIN SELECT RAISE(ABORT, 'refused'); END",
      );
      await vi.waitFor(
        async () => {
          await authorize();
          expect(await status()).toBe(Serving.NOT_SERVING);
        },
        { timeout: 10_000, interval: 50 },
      );
      expect((await watched.next()).value?.status).toBe(Serving.NOT_SERVING);
      expect(await healthz()).toBe(503);
      // Still serving decisions, without waiting on the log.
      for (let i = 0; i < 20; i++) await authorize();

      other.exec("DROP TRIGGER refuse_decisions");
      await vi.waitFor(async () => expect(await status()).toBe(Serving.SERVING), {
        timeout: 10_000,
        interval: 100,
      });
      expect((await watched.next()).value?.status).toBe(Serving.SERVING);
      expect(await healthz()).toBe(200);
      for (let i = 0; i < 5; i++) await authorize();
    } finally {
      abort.abort();
      auth.close();
      health.close();
      other.close();
      await server.stop({ keepData: true });
    }
    const store = openStore(server.dataDir);
    try {
      const logged = store.db
        .prepare<[], { id: string }>("SELECT id FROM decision_log")
        .all()
        .map((r) => r.id);
      expect(logged.sort()).toEqual([...ids].sort());
      expect(readdirSync(server.dataDir).filter((f) => f.startsWith("decision-spill."))).toEqual([]);
    } finally {
      void store.close();
      rmSync(server.dataDir, { recursive: true, force: true });
    }
  });
});

describe("the decision writer thread (built: run npm run build first)", () => {
  it("stores the caller and overflow summaries through the thread's real path, and a batch id once", async () => {
    const url = pathToFileURL(join(process.cwd(), "dist/src/audit/decision-sink.js")).href;
    const { threadSink } = (await import(url)) as typeof import("../../src/audit/decision-sink.js");
    const data = tempDir();
    const store = openStore(data.dir);
    try {
      const sink = threadSink(data.dir);
      expect(sink).toBeDefined();
      const records: DecisionRecord[] = [1, 2].map((i) => ({
        id: `dec-${i}`,
        orgId: "org",
        atMs: 1_000 + i,
        subjectId: `agent_${i}`,
        scope: "a:b",
        resourceKind: "tool",
        resourceId: `t${i}`,
        allowed: i === 1,
        reason: "ALLOWED_BY_RULE",
        rule: "p/r",
        revision: 3,
        caller: i === 1 ? "service:spiffe://example.org/ns/a/sa/b" : "token:agt_7",
      }));
      const overflow: OverflowSummary[] = [
        {
          orgId: "org",
          windowStartMs: 0,
          windowEndMs: 60_000,
          dropped: 9,
          allowed: 4,
          denied: 5,
          droppedBytes: 900,
        },
      ];
      await sink?.write({ id: "batch-1", records, overflow });
      await sink?.write({ id: "batch-1", records, overflow });
      await sink?.close();
      expect(store.decisions.recent("org", 10)).toEqual([...records].reverse());
      expect(store.decisions.overflow("org")).toEqual(overflow);
      expect(
        store.db.prepare<[], { caller: string }>("SELECT caller FROM decision_log ORDER BY position").all(),
      ).toEqual([{ caller: "service:spiffe://example.org/ns/a/sa/b" }, { caller: "token:agt_7" }]);
    } finally {
      void store.close();
      data.cleanup();
    }
  });
});
