import { describe, expect, it } from "vitest";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
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
      store.close();
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
        store.close();
      }
    } finally {
      data.cleanup();
    }
  });
});
