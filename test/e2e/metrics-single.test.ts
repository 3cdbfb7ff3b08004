import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { loadConfig } from "../../src/config/config.js";
import { type RunningTessera, startTessera } from "../../src/main.js";
import type { SlowCall } from "../../src/observe/call-meter.js";
import type { CallRecord } from "../../src/rpc/request-log.js";
import { ListenError, listenMetrics } from "../../src/transport/listen.js";
import { expectOk } from "../helpers/e2e.js";
import { grpcClient } from "../helpers/grpc-client.js";
import { tempDir } from "../helpers/server.js";

/*
 * Issue #13, one process: /metrics on the HTTP port answers this process's own metrics; the
 * request log carries each call's request id; `metrics: false` serves no /metrics at all.
 */

const ATTRIBUTES = {
  subject: { case: "attributes" as const, value: { id: "subject-single-1", tier: Tier.VERIFIED, roles: [] } },
  scope: "reports:read",
};

async function start(
  dir: string,
  overrides: Record<string, unknown>,
  records: CallRecord[],
  slow: SlowCall[],
) {
  const config = loadConfig({ dataDir: dir, grpcPort: 0, httpPort: 0, ...overrides }, {});
  return startTessera(config, { observeCall: (r) => records.push(r), onSlowCall: (c) => slow.push(c) });
}

describe("metrics of a single process", () => {
  const data = tempDir();
  const records: CallRecord[] = [];
  const slow: SlowCall[] = [];
  let server: RunningTessera;

  beforeAll(async () => {
    // No call takes an hour: the slow-call line stays silent.
    server = await start(data.dir, { slowCallMs: 3_600_000 }, records, slow);
  });
  afterAll(async () => {
    await server.close();
    data.cleanup();
  });

  it("counts calls and decisions, and logs each call with the request id its caller got back", async () => {
    const client = grpcClient(AuthService, `127.0.0.1:${server.grpcPort}`);
    try {
      const apiKey = server.devOrg?.apiKey ?? "";
      expectOk(
        await client.call("authorize", ATTRIBUTES, { "x-api-key": apiKey, "x-request-id": "single-1" }),
      );
      expectOk(await client.call("authorize", ATTRIBUTES, { "x-api-key": apiKey }));
    } finally {
      client.close();
    }
    const authorize = records.filter((r) => r.rpc === "tessera.v1.AuthService/Authorize");
    expect(authorize.map((r) => r.requestId)).toEqual(["single-1", expect.stringMatching(/^[0-9a-f-]{36}$/)]);
    expect(slow).toEqual([]);
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(
      /^grpc_server_handled_total\{grpc_type="unary",grpc_service="tessera\.v1\.AuthService",grpc_method="Authorize",transport="grpc",grpc_code="OK"\} 2$/m,
    );
    expect(text).toMatch(
      new RegExp(
        `^tessera_decisions_total\\{decision="[A-Z]+",reason="[A-Z_]+",org="${server.devOrg?.orgId}"\\} 2$`,
        "m",
      ),
    );
    expect(text).not.toContain("subject-single-1");
  });

  it("counts the decision log's batches and write time once it has written them", async () => {
    // The log writes within milliseconds of a decision, off the call's path: wait for it.
    let text = "";
    for (let i = 0; i < 100; i++) {
      text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
      if (/^tessera_decision_log_batches_written_total [1-9]/m.test(text)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(text).toMatch(/^tessera_decision_log_batches_written_total [1-9]\d*$/m);
    expect(text).toMatch(/^tessera_decision_log_write_seconds_count [1-9]\d*$/m);
    expect(text).toMatch(/^tessera_decision_log_records_total\{result="written"\} 2$/m);
    expect(text).toMatch(/^tessera_decision_log_queue_depth 0$/m);
  });
});

describe("metrics switched off", () => {
  const data = tempDir();
  let server: RunningTessera;

  beforeAll(async () => {
    server = await start(data.dir, { metrics: false }, [], []);
  });
  afterAll(async () => {
    await server.close();
    data.cleanup();
  });

  it("serves no /metrics", async () => {
    expect(server.metrics).toBeUndefined();
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/metrics`);
    expect(res.status).toBe(404);
  });
});

describe("the metrics port", () => {
  it("answers only GET /metrics, and a port in use is refused naming --metrics-port", async () => {
    const source = () => Promise.resolve({ contentType: "text/plain; version=0.0.4", text: "up 1\n" });
    const port = await listenMetrics("127.0.0.1", 0, source);
    try {
      const ok = await fetch(`http://127.0.0.1:${port.port}/metrics`);
      expect(ok.status).toBe(200);
      expect(await ok.text()).toBe("up 1\n");
      expect((await fetch(`http://127.0.0.1:${port.port}/healthz`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${port.port}/metrics`, { method: "POST" })).status).toBe(405);
      const taken = listenMetrics("127.0.0.1", port.port, source);
      await expect(taken).rejects.toBeInstanceOf(ListenError);
      await expect(taken).rejects.toThrow(/--metrics-port/);
    } finally {
      await port.close();
    }
  });

  it("answers 503 when the metrics cannot be had", async () => {
    const port = await listenMetrics("127.0.0.1", 0, () => Promise.reject(new Error("a worker is silent")));
    try {
      expect((await fetch(`http://127.0.0.1:${port.port}/metrics`)).status).toBe(503);
    } finally {
      await port.close();
    }
  });
});
