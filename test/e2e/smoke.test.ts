import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService, Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { grpcClient } from "../helpers/grpc-client.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

describe("smoke: a real server on a real port", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => server.stop());

  it("allows the README example over grpc-js", async () => {
    const client = grpcClient(AuthService, `127.0.0.1:${server.grpcPort}`);
    const res = await client.call(
      "authorize",
      {
        subject: {
          case: "attributes",
          value: { id: "agent_abc123", tier: Tier.VERIFIED, roles: ["operator"] },
        },
        scope: "governance:propose",
        resource: { kind: "tool", id: "t1", attr: { env: "staging" } },
      },
      { "x-api-key": server.org.apiKey },
    );
    client.close();
    expect(res.ok && res.value.decision).toBe(Decision.ALLOW);
  });

  it("refuses an unknown API key with API_KEY_UNKNOWN", async () => {
    const client = grpcClient(AuthService, `127.0.0.1:${server.grpcPort}`);
    const res = await client.call("authenticate", { credential: { case: "apiKey", value: "tsk_x" } });
    client.close();
    expect(res.ok).toBe(false);
    if (!res.ok) {
      expect(res.error.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(res.error.reason).toBe("API_KEY_MALFORMED");
    }
  });
});
