import { create, type DescMessage, type DescService, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import { SystemService } from "../../gen/tessera/v1/system_service_pb.js";
import { adminHeaders, expectOk, rawUnary } from "../helpers/e2e.js";
import { grpcClients } from "../helpers/grpc-fixture.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/**
 * Issue #11, "bad input that still gets INTERNAL": generated and mutated protobuf and JSON
 * bodies for every RPC, on both ports. Whatever arrives, the answer is a client error (never
 * INTERNAL or UNKNOWN, never a 5xx), nothing crashes, and the server still serves afterwards.
 */

const SERVICES: readonly DescService[] = [AuthService, AdminService, SystemService, Health];
const RUNS = 12;
const SERVER_FAULTS = new Set([grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.DATA_LOSS]);

/** A valid (if empty-ish) encoding of a request, to mutate. */
function seed(desc: DescMessage): Uint8Array {
  const init: Record<string, unknown> = {};
  for (const f of desc.fields) {
    if (f.fieldKind === "scalar" && f.scalar === 9 /* string */) init[f.localName] = "x".repeat(8);
  }
  return toBinary(desc, create(desc, init as never));
}

/** Flips, drops or inserts bytes of `bytes`. */
const mutated = (bytes: Uint8Array) =>
  fc
    .array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom("flip", "drop", "insert")), {
      minLength: 1,
      maxLength: 6,
    })
    .map((edits) => {
      const out = [...bytes];
      for (const [at, byte, op] of edits) {
        const i = out.length === 0 ? 0 : at % out.length;
        if (op === "flip") out[i] = byte;
        else if (op === "drop") out.splice(i, 1);
        else out.splice(i, 0, byte);
      }
      return Buffer.from(out);
    });

const bodies = (desc: DescMessage) =>
  fc.oneof(
    fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)),
    mutated(seed(desc)),
  );

describe("fuzzed bodies on both ports", () => {
  let server: TestServer;
  let address = "";
  let base = "";
  let admin: Record<string, string>;

  beforeAll(async () => {
    server = await startTestServer();
    address = `127.0.0.1:${server.grpcPort}`;
    base = `http://127.0.0.1:${server.httpPort}`;
    admin = adminHeaders(server.org);
  });
  afterAll(async () => server?.stop());

  const methods = SERVICES.flatMap((s) =>
    s.methods.filter((m) => m.methodKind === "unary").map((m) => ({ service: s, method: m })),
  );

  it.each(methods.map((m) => [`${m.service.typeName}/${m.method.name}`, m] as const))(
    "gRPC %s: every body gets a client error or an answer",
    async (path, m) => {
      await fc.assert(
        fc.asyncProperty(bodies(m.method.input), async (body) => {
          const res = await rawUnary(address, `/${path}`, body, admin);
          if (!res.ok)
            expect(SERVER_FAULTS.has(res.error.code), `${grpc.status[res.error.code]}`).toBe(false);
        }),
        { numRuns: RUNS },
      );
    },
  );

  it.each(methods.map((m) => [`${m.service.typeName}/${m.method.name}`, m] as const))(
    "Connect %s: binary and JSON bodies never get a 5xx",
    async (path, m) => {
      const json = fc.oneof(
        fc.json(),
        fc.string(),
        fc
          .dictionary(
            fc.constantFrom(...m.method.input.fields.map((f) => f.jsonName), "bogus"),
            fc.jsonValue(),
          )
          .map((o) => JSON.stringify(o)),
      );
      await fc.assert(
        fc.asyncProperty(bodies(m.method.input), json, async (binary, text) => {
          for (const [type, body] of [
            ["application/proto", binary],
            ["application/json", text],
          ] as const) {
            const res = await fetch(`${base}/${path}`, {
              method: "POST",
              headers: { "content-type": type, ...admin },
              body,
              signal: AbortSignal.timeout(10_000),
            });
            const text2 = await res.text();
            expect(res.status, `${type} → ${res.status} ${text2.slice(0, 200)}`).toBeLessThan(500);
            expect(text2).not.toMatch(/"code":"(internal|unknown)"/);
          }
        }),
        { numRuns: RUNS },
      );
    },
  );

  it("answers edge cases of the transports with client errors", async () => {
    const path = "/tessera.v1.AuthService/WhoAmI";
    const cases: [string, RequestInit][] = [
      // gRPC-Web with the compressed flag set on a message we never agreed to compress.
      [
        "grpc-web compressed flag",
        {
          headers: { "content-type": "application/grpc-web+proto", ...admin },
          body: Buffer.from([1, 0, 0, 0, 0]),
        },
      ],
      [
        "an invalid gzip body",
        {
          headers: { "content-type": "application/json", "content-encoding": "gzip", ...admin },
          body: Buffer.from("not gzip at all"),
        },
      ],
      [
        "an unknown content encoding",
        {
          headers: { "content-type": "application/json", "content-encoding": "br-ish", ...admin },
          body: "{}",
        },
      ],
    ];
    for (const [name, init] of cases) {
      const res = await fetch(`${base}${path}`, {
        method: "POST",
        ...init,
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      // An encoding we do not support is UNIMPLEMENTED (501), as the protocol says; nothing else is 5xx.
      const allowed = name === "an unknown content encoding" ? [501] : [];
      if (!allowed.includes(res.status))
        expect(res.status, `${name}: ${res.status} ${text.slice(0, 200)}`).toBeLessThan(500);
      expect(text).not.toMatch(/"code":"(internal|unknown)"/);
      const grpcStatus = res.headers.get("grpc-status");
      if (grpcStatus)
        expect([String(grpc.status.INTERNAL), String(grpc.status.UNKNOWN)], name).not.toContain(grpcStatus);
    }
    // A grpc-timeout header that is not a timeout.
    const res = await rawUnary(address, "/tessera.v1.AuthService/WhoAmI", Buffer.alloc(0), {
      ...admin,
      "grpc-timeout": "xyz",
    });
    if (!res.ok) expect(SERVER_FAULTS.has(res.error.code), grpc.status[res.error.code]).toBe(false);
  });

  it("still serves normally after all of it", async () => {
    const c = grpcClients(address);
    const health = expectOk(await c.health.call("check", {}));
    expect(health.status).toBe(1);
    // (The fuzzed RotateOrgCredentials calls replaced the admin pair: ask what needs none.)
    const jwks = expectOk(await c.auth.call("getJwks", {}));
    expect(jwks.keys.length).toBeGreaterThan(0);
    const status = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(5_000) });
    expect(status.status).toBe(200);
    for (const client of Object.values(c)) client.close();
  });
});
