import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Serving } from "../../gen/grpc/health/v1/health_pb.js";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import { expectOk } from "../helpers/e2e.js";
import { grpcClient } from "../helpers/grpc-client.js";
import { startTestServer } from "../helpers/server.js";

/** Resolves to how `p` settled, or "timeout" after `ms` (so a hang fails the assertion, not the run). */
function settledWithin(p: Promise<unknown>, ms: number): Promise<"closed" | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  return Promise.race([p.then(() => "closed" as const), timeout]).finally(() => clearTimeout(timer));
}

describe("graceful shutdown (plaintext ports)", () => {
  it("closes promptly while idle clients still hold connections to both ports", async () => {
    const server = await startTestServer();
    const grpcJs = grpcClient(AuthService, `127.0.0.1:${server.grpcPort}`);
    try {
      expectOk(await grpcJs.call("getJwks", {}));
      const connectGrpc = createClient(
        AuthService,
        createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.grpcPort}` }),
      );
      await connectGrpc.getJwks({}, { timeoutMs: 10_000 });
      const connectHttp1 = createClient(
        AuthService,
        createConnectTransport({ baseUrl: `http://127.0.0.1:${server.httpPort}`, httpVersion: "1.1" }),
      );
      await connectHttp1.getJwks({}, { timeoutMs: 10_000 });
      expect(await settledWithin(server.stop(), 5_000)).toBe("closed");
    } finally {
      grpcJs.close();
    }
  });

  it("tells an open Health/Watch stream NOT_SERVING and ends it", async () => {
    const server = await startTestServer();
    const health = createClient(
      Health,
      createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.grpcPort}` }),
    );
    const abort = new AbortController();
    const stream = health.watch({ service: "" }, { signal: abort.signal })[Symbol.asyncIterator]();
    try {
      expect((await stream.next()).value?.status).toBe(Serving.SERVING);
      const closing = server.stop();
      expect((await stream.next()).value?.status).toBe(Serving.NOT_SERVING);
      expect((await stream.next()).done).toBe(true);
      expect(await settledWithin(closing, 5_000)).toBe("closed");
    } finally {
      abort.abort();
    }
  });
});
