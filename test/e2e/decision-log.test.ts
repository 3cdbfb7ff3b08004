import { describe, expect, it } from "vitest";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { openStore } from "../../src/store/store.js";
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
