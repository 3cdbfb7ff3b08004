import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { cliEnv, type ServeProcess, spawnServe } from "../helpers/cli.js";
import { expectOk } from "../helpers/e2e.js";
import { tempDir } from "../helpers/server.js";
import { clientsForEveryWorker, type WorkerClients } from "../helpers/workers.js";

/*
 * Issue #13: /metrics on the HTTP port and on --metrics-port, summed across the workers of a
 * cluster, with bounded labels; every call's request id returned to its caller.
 */

const SUBJECT = "subject-metrics-7f3a";
const CALLS_PER_WORKER = 3;

/** One sample of the Prometheus text: its name, labels and value. */
interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m?.[1] || m[3] === undefined) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] as string] = l[2] as string;
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of every sample named `name` whose labels include `where`. */
function total(samples: Sample[], name: string, where: Record<string, string>): number {
  return samples
    .filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

async function scrape(port: number): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return { status: res.status, type: res.headers.get("content-type") ?? "", text: await res.text() };
}

/** An Authorize over gRPC, returning the response headers' x-request-id. */
function authorizeRequestId(
  client: grpc.Client,
  apiKey: string,
  requestId?: string,
): Promise<string | undefined> {
  const md = new grpc.Metadata();
  md.set("x-api-key", apiKey);
  if (requestId !== undefined) md.set("x-request-id", requestId);
  return new Promise((resolve, reject) => {
    let seen: string | undefined;
    const call = client.makeUnaryRequest(
      "/tessera.v1.AuthService/Authorize",
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
      md,
      { deadline: Date.now() + 10_000 },
      () => resolve(seen),
    );
    call.on("metadata", (m) => {
      const v = m.get("x-request-id")[0];
      seen = typeof v === "string" ? v : undefined;
    });
    call.on("error", reject);
  });
}

describe("metrics of serve --workers 2", () => {
  const data = tempDir();
  let serve: ServeProcess;
  let grpcPort = 0;
  let httpPort = 0;
  let metricsPort = 0;
  let apiKey = "";
  let adminToken = "";
  let workers: WorkerClients;

  beforeAll(async () => {
    serve = spawnServe(
      [
        "--data-dir",
        data.dir,
        "--grpc-port",
        "0",
        "--http-port",
        "0",
        "--metrics-port",
        "0",
        "--workers",
        "2",
      ],
      cliEnv(data.dir),
      // Two workers starting on a loaded machine: more than the usual 15 s.
      45_000,
    );
    const ready = await serve.ready;
    grpcPort = ready.grpcPort;
    httpPort = ready.httpPort;
    metricsPort = ready.metricsPort ?? 0;
    apiKey = ready.exports.TESSERA_API_KEY ?? "";
    adminToken = ready.exports.TESSERA_ADMIN_TOKEN ?? "";
    workers = await clientsForEveryWorker(grpcPort, 2);
    await workers.each(async (c) => {
      for (let i = 0; i < CALLS_PER_WORKER; i++) {
        expectOk(
          await c.call(
            "authorize",
            {
              subject: { case: "attributes", value: { id: SUBJECT, tier: Tier.VERIFIED, roles: ["viewer"] } },
              scope: "reports:read",
            },
            { "x-api-key": apiKey },
          ),
        );
      }
    });
  }, 60_000);
  afterAll(async () => {
    workers?.close();
    expect(await serve.stop()).toBe(0);
    data.cleanup();
  });

  it("serves the same summed counts on the HTTP port and on --metrics-port", async () => {
    expect(metricsPort).toBeGreaterThan(0);
    for (const port of [httpPort, metricsPort]) {
      const res = await scrape(port);
      expect(res.status).toBe(200);
      expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
      const samples = parse(res.text);
      // Each worker answered CALLS_PER_WORKER: only the sum of both shows all of them.
      const rpc = { grpc_service: "tessera.v1.AuthService", grpc_method: "Authorize", transport: "grpc" };
      expect(total(samples, "grpc_server_handled_total", { ...rpc, grpc_code: "OK" })).toBe(
        2 * CALLS_PER_WORKER,
      );
      expect(total(samples, "grpc_server_handling_seconds_count", rpc)).toBe(2 * CALLS_PER_WORKER);
      expect(total(samples, "grpc_server_handling_seconds_bucket", { ...rpc, le: "+Inf" })).toBe(
        2 * CALLS_PER_WORKER,
      );
      expect(total(samples, "tessera_decisions_total", {})).toBe(2 * CALLS_PER_WORKER);
      expect(total(samples, "tessera_cache_lookups_total", { cache: "credential" })).toBeGreaterThanOrEqual(
        2 * CALLS_PER_WORKER,
      );
      // Process metrics of both workers.
      expect(samples.some((s) => s.name === "process_cpu_user_seconds_total")).toBe(true);
      expect(samples.some((s) => s.name === "tessera_signing_key_age_seconds")).toBe(true);
    }
  });

  it("labels decisions by org, never by subject or credential", async () => {
    const { text } = await scrape(httpPort);
    const decisions = parse(text).filter((s) => s.name === "tessera_decisions_total");
    expect(decisions.length).toBeGreaterThan(0);
    for (const d of decisions) expect(Object.keys(d.labels).sort()).toEqual(["decision", "org", "reason"]);
    for (const secret of [SUBJECT, apiKey, adminToken]) expect(text).not.toContain(secret);
    // Every label of every series comes from a bounded set of names.
    const allowed = new Set([
      "grpc_type",
      "grpc_service",
      "grpc_method",
      "grpc_code",
      "transport",
      "le",
      "decision",
      "reason",
      "org",
      "cache",
      "result",
      "route",
      "code",
      "limit",
      "version",
      "major",
      "minor",
      "patch",
      "space",
      "kind",
      "type",
    ]);
    for (const s of parse(text))
      for (const k of Object.keys(s.labels)) expect(allowed, `${s.name} ${k}`).toContain(k);
  });

  it("returns the caller's request id, or a generated one, over gRPC", async () => {
    const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
    try {
      expect(await authorizeRequestId(client, apiKey, "req-abc.123")).toBe("req-abc.123");
      const generated = await authorizeRequestId(client, apiKey);
      expect(generated).toMatch(/^[0-9a-f-]{36}$/);
      // Not a sane id (spaces, too long): replaced, never echoed.
      const replaced = await authorizeRequestId(client, apiKey, "x".repeat(200));
      expect(replaced).toMatch(/^[0-9a-f-]{36}$/);
      expect(await authorizeRequestId(client, apiKey, "has space")).not.toBe("has space");
    } finally {
      client.close();
    }
  });

  it("returns the request id over Connect and AuthZEN, and counts AuthZEN by route", async () => {
    const connect = await fetch(`http://127.0.0.1:${httpPort}/tessera.v1.AuthService/Authorize`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": apiKey, "x-request-id": "connect-1" },
      body: JSON.stringify({
        attributes: { id: SUBJECT, tier: "TIER_VERIFIED" },
        scope: "reports:read",
      }),
    });
    expect(connect.status).toBe(200);
    expect(connect.headers.get("x-request-id")).toBe("connect-1");
    const refused = await fetch(`http://127.0.0.1:${httpPort}/tessera.v1.AuthService/Authorize`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": "tsk_wrong" },
      body: JSON.stringify({ scope: "reports:read" }),
    });
    expect(refused.status).not.toBe(200);
    expect(refused.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const authzen = await fetch(`http://127.0.0.1:${httpPort}/access/v1/evaluation`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": apiKey, "x-request-id": "authzen-1" },
      body: JSON.stringify({
        subject: { type: "user", id: SUBJECT },
        action: { name: "read" },
        resource: { type: "report", id: "r1" },
      }),
    });
    expect(authzen.headers.get("x-request-id")).toBe("authzen-1");
    await authzen.text();
    // Answered before the scrape, on whichever worker: the summed metrics hold them.
    const samples = parse((await scrape(metricsPort)).text);
    expect(total(samples, "tessera_http_requests_total", { route: "/access/v1/evaluation" })).toBe(1);
    const connectCalls = { grpc_method: "Authorize", transport: "connect" };
    expect(total(samples, "grpc_server_handled_total", connectCalls)).toBe(2);
    expect(total(samples, "grpc_server_handled_total", { ...connectCalls, grpc_code: "OK" })).toBe(1);
  });
});
