import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { adminHeaders, expectOk } from "../helpers/e2e.js";
import { grpcClient } from "../helpers/grpc-client.js";
import { grpcClients } from "../helpers/grpc-fixture.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

interface Corpus {
  readonly numberOfTests: number;
  readonly testGroups: readonly { readonly tests: readonly { tcId: number; jws: string }[] }[];
}

const FILE = fileURLToPath(new URL("../fixtures/wycheproof/json_web_signature_test.json", import.meta.url));
const corpus: Corpus | undefined = existsSync(FILE)
  ? (JSON.parse(readFileSync(FILE, "utf8")) as Corpus)
  : undefined;
const vectors = (corpus?.testGroups ?? []).flatMap((g) => g.tests);
const CONCURRENCY = 16;

/** Runs `work` over `items` with at most `limit` in flight; results in input order. */
async function bounded<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: limit }, lane));
  return out;
}

describe("every Wycheproof JWS vector over the real gRPC port", () => {
  let server: TestServer;
  let client: ReturnType<typeof grpcClient<typeof AuthService.method>>;
  beforeAll(async () => {
    server = await startTestServer();
    client = grpcClient(AuthService, `127.0.0.1:${server.grpcPort}`);
  });
  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  it("has the whole corpus", () => {
    expect(existsSync(FILE), `missing ${FILE}`).toBe(true);
    expect(vectors).toHaveLength(corpus?.numberOfTests ?? -1);
    expect(vectors.length).toBeGreaterThanOrEqual(401);
  });

  it.each([
    [
      "Authenticate {token}",
      (jws: string) => client.call("authenticate", { credential: { case: "token", value: jws } }),
    ],
    [
      "Authorize {token, governance:read}",
      (jws: string) =>
        client.call("authorize", { subject: { case: "token", value: jws }, scope: "governance:read" }),
    ],
  ] as const)("%s answers UNAUTHENTICATED to every vector, never INTERNAL", async (_name, call) => {
    const results = await bounded(vectors, CONCURRENCY, async (v) => {
      const res = await call(v.jws);
      return {
        tcId: v.tcId,
        code: res.ok ? "OK" : grpc.status[res.error.code],
        reason: res.ok ? "" : res.error.reason,
      };
    });
    const wrong = results.filter((r) => r.code !== "UNAUTHENTICATED");
    expect(wrong).toEqual([]);
    expect(results.every((r) => r.reason.length > 0)).toBe(true);
  });
});

/** The order of P-256: r or s of 0, 1, n−1 or n must never verify ("psychic signatures", CVE-2022-21449). */
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const EDGES = [0n, 1n, N - 1n, N];
const be32 = (v: bigint) => Buffer.from(v.toString(16).padStart(64, "0"), "hex");

describe("ES256 tokens with psychic signatures over the real gRPC port", () => {
  let server: TestServer;
  let c: ReturnType<typeof grpcClients>;
  let token = "";
  beforeAll(async () => {
    server = await startTestServer({ signingAlg: "ES256" });
    c = grpcClients(`127.0.0.1:${server.grpcPort}`);
    const admin = adminHeaders(server.org);
    const created = expectOk(
      await c.admin.call("createAgent", { name: "es", tier: Tier.VERIFIED, roles: ["operator"] }, admin),
    );
    const minted = await c.auth.call(
      "mintToken",
      { agentId: created.agent?.id ?? "", scopes: ["governance:read"] },
      admin,
    );
    token = expectOk(minted).token;
  });
  afterAll(async () => {
    for (const client of Object.values(c ?? {})) client.close();
    await server?.stop();
  });

  const authorize = (jws: string) =>
    c.auth.call("authorize", { subject: { case: "token", value: jws }, scope: "governance:read" });

  it("refuses every (r, s) in {0, 1, n−1, n}², while the genuine token is allowed", async () => {
    expect(JSON.parse(Buffer.from(token.split(".")[0] ?? "", "base64url").toString()).alg).toBe("ES256");
    expect(expectOk(await authorize(token)).reason).toBe("ALLOWED_BY_RULE");
    const [header, payload] = token.split(".");
    for (const r of EDGES) {
      for (const s of EDGES) {
        const forged = `${header}.${payload}.${Buffer.concat([be32(r), be32(s)]).toString("base64url")}`;
        for (const res of [
          await authorize(forged),
          await c.auth.call("authenticate", { credential: { case: "token", value: forged } }),
        ]) {
          expect(res.ok ? "OK" : grpc.status[res.error.code], `r=${r} s=${s}`).toBe("UNAUTHENTICATED");
        }
      }
    }
  });
});
