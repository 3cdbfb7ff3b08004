import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import { expectFailure, expectOk } from "../helpers/e2e.js";
import { type GrpcFixture, startGrpcFixture } from "../helpers/grpc-fixture.js";

/*
 * Issue #13: per-key rate limits on a real server over real grpc-js and HTTP clients. Counted,
 * not timed: a key of burst B at 1 request per second lets through B calls of a burst sent at
 * once, plus at most one per whole second the burst took.
 */

const BURST = 10;
const SENT = 30;

/** The RetryInfo of a refusal's grpc-status-details-bin, if any. */
function retryInfoOf(err: grpc.ServiceError) {
  const bin = err.metadata.get("grpc-status-details-bin")[0];
  if (!(bin instanceof Buffer)) return undefined;
  return fromBinary(StatusSchema, bin)
    .details.map((d) => anyUnpack(d, RetryInfoSchema))
    .find(Boolean);
}

describe("rate limits per API key", () => {
  let f: GrpcFixture;
  let limitedKey: string;
  let limitedId: string;
  let otherKey: string;
  beforeAll(async () => {
    f = await startGrpcFixture();
    const created = expectOk(
      await f.c.admin.call(
        "createApiKey",
        { name: "pep", scopes: ["decisions:evaluate"], rateLimit: { requestsPerSecond: 1, burst: BURST } },
        f.admin,
      ),
    );
    limitedKey = created.apiKey;
    limitedId = created.key?.id ?? "";
    otherKey = expectOk(
      await f.c.admin.call("createApiKey", { name: "pep-2", scopes: ["decisions:evaluate"] }, f.admin),
    ).apiKey;
  });
  afterAll(async () => f?.close());

  const authorize = (key: string) =>
    f.c.auth.call(
      "authorize",
      {
        subject: { case: "token", value: f.token },
        scope: "governance:propose",
        resource: { kind: "tool", id: "t1" },
      },
      { "x-api-key": key },
    );

  it("lets a burst of calls through up to the key's burst, refuses the rest with RATE_LIMITED and RetryInfo", async () => {
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: SENT }, () => authorize(limitedKey)));
    const seconds = Math.floor((Date.now() - started) / 1000);
    const passed = results.filter((r) => r.ok).length;
    expect(passed).toBeGreaterThanOrEqual(BURST);
    expect(passed).toBeLessThanOrEqual(BURST + seconds);
    const refused = results.find((r) => !r.ok);
    if (!refused) throw new Error("nothing was refused");
    expectFailure(refused, grpc.status.RESOURCE_EXHAUSTED, "RATE_LIMITED");
    expect(limitedId).toMatch(/^key_/);
    // Every refusal is counted where Prometheus sees it (and no key id is a label).
    const scraped = await (await fetch(`http://127.0.0.1:${f.server.httpPort}/metrics`)).text();
    const counted = /^tessera_rate_limit_refusals_total (\d+)$/m.exec(scraped)?.[1];
    expect(Number(counted)).toBeGreaterThanOrEqual(SENT - passed);
    expect(scraped).not.toContain(limitedId);
  });

  it("sends a RetryInfo detail in grpc-status-details-bin", async () => {
    const client = new grpc.Client(f.address, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    md.set("x-api-key", limitedKey);
    const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
      // A call with an empty request: refused by the rate limit before the handler reads it.
      client.makeUnaryRequest(
        `/${AuthService.typeName}/Authorize`,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        md,
        (e: grpc.ServiceError | null) => (e ? resolve(e) : reject(new Error("the call succeeded"))),
      );
    });
    client.close();
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.metadata.get("tessera-reason")[0]).toBe("RATE_LIMITED");
    expect(Number(retryInfoOf(err)?.retryDelay?.seconds)).toBeGreaterThanOrEqual(1);
  });

  it("leaves another key of the same org, and the org's own key, unaffected", async () => {
    for (const key of [otherKey, f.server.org.apiKey]) {
      const results = await Promise.all(Array.from({ length: SENT }, () => authorize(key)));
      expect(results.filter((r) => r.ok)).toHaveLength(SENT);
    }
  });

  it("refuses over HTTP with 429 and Retry-After (AuthZEN, charged to the PEP's key)", async () => {
    // The bucket refilled a little while the other tests ran: a burst empties it again.
    const evaluate = () =>
      fetch(`http://127.0.0.1:${f.server.httpPort}/access/v1/evaluation`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": limitedKey },
        body: JSON.stringify({
          subject: { type: "agent", id: f.agentId },
          action: { name: "governance:propose" },
          resource: { type: "tool", id: "t1" },
        }),
        signal: AbortSignal.timeout(10_000),
      });
    const replies = await Promise.all(Array.from({ length: BURST + 5 }, evaluate));
    const refused = replies.find((r) => r.status !== 200);
    if (!refused) throw new Error("nothing was refused");
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(((await refused.json()) as { reason: string }).reason).toBe("RATE_LIMITED");
  });

  it("refuses over Connect (HTTP port) with 429, Retry-After and the reason", async () => {
    const status = () =>
      fetch(`http://127.0.0.1:${f.server.httpPort}/tessera.v1.AuthService/GetServerStatus`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": limitedKey },
        body: "{}",
        signal: AbortSignal.timeout(10_000),
      });
    const replies = await Promise.all(Array.from({ length: BURST + 5 }, status));
    const refused = replies.find((r) => r.status !== 200);
    if (!refused) throw new Error("nothing was refused");
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get("tessera-reason")).toBe("RATE_LIMITED");
    expect(((await refused.json()) as { code: string }).code).toBe("resource_exhausted");
  });

  it("clears a key's limit with SetApiKeyRateLimit: the key then passes every call", async () => {
    expectOk(await f.c.admin.call("setApiKeyRateLimit", { id: limitedId }, f.admin));
    const results = await Promise.all(Array.from({ length: SENT }, () => authorize(limitedKey)));
    expect(results.filter((r) => r.ok)).toHaveLength(SENT);
    const listed = expectOk(await f.c.admin.call("listApiKeys", {}, f.admin));
    expect(listed.keys.find((k) => k.id === limitedId)?.rateLimit).toBeUndefined();
  });

  it("refuses a rate limit of 0 with RATE_LIMIT_INVALID, and an unknown key with API_KEY_NOT_FOUND", async () => {
    expectFailure(
      await f.c.admin.call(
        "setApiKeyRateLimit",
        { id: limitedId, rateLimit: { requestsPerSecond: 0, burst: 1 } },
        f.admin,
      ),
      grpc.status.INVALID_ARGUMENT,
      "RATE_LIMIT_INVALID",
    );
    expectFailure(
      await f.c.admin.call(
        "setApiKeyRateLimit",
        { id: "key_nope", rateLimit: { requestsPerSecond: 1, burst: 1 } },
        f.admin,
      ),
      grpc.status.NOT_FOUND,
      "API_KEY_NOT_FOUND",
    );
  });
});

describe("org default rate limits from the server's settings", () => {
  const ORG_BURST = 50;
  let f: GrpcFixture;
  beforeAll(async () => {
    f = await startGrpcFixture({
      rateLimitOrgRps: 1,
      rateLimitOrgBurst: ORG_BURST,
      rateLimitAgentRps: 1,
      rateLimitAgentBurst: 3,
    });
  });
  afterAll(async () => f?.close());

  it("charges an agent's own calls (its bearer token) to the per-agent default", async () => {
    const started = Date.now();
    const status = () => f.c.auth.call("getServerStatus", {}, { authorization: `Bearer ${f.token}` });
    const results = await Promise.all(Array.from({ length: 10 }, status));
    const seconds = Math.floor((Date.now() - started) / 1000);
    expect(results.filter((r) => r.ok).length).toBeGreaterThanOrEqual(3);
    expect(results.filter((r) => r.ok).length).toBeLessThanOrEqual(3 + seconds);
    const refused = results.find((r) => !r.ok);
    if (!refused) throw new Error("nothing was refused");
    expectFailure(refused, grpc.status.RESOURCE_EXHAUSTED, "RATE_LIMITED");
  });

  it("caps all of an org's keys together, and leaves another org alone", async () => {
    const key = expectOk(
      await f.c.admin.call("createApiKey", { name: "second", scopes: ["decisions:evaluate"] }, f.admin),
    ).apiKey;
    const started = Date.now();
    const status = (k: string) => f.c.auth.call("getServerStatus", {}, { "x-api-key": k });
    const results = await Promise.all(
      Array.from({ length: 2 * ORG_BURST }, (_, i) => status(i % 2 ? key : f.server.org.apiKey)),
    );
    const seconds = Math.floor((Date.now() - started) / 1000);
    // The fixture's set-up and the agent's calls spent some of the org's burst already.
    expect(results.filter((r) => r.ok).length).toBeLessThanOrEqual(ORG_BURST + seconds);
    const refused = results.find((r) => !r.ok);
    if (!refused) throw new Error("nothing was refused");
    expectFailure(refused, grpc.status.RESOURCE_EXHAUSTED, "RATE_LIMITED");
    expectOk(await status(f.other.apiKey));
  });
});
