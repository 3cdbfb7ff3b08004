/**
 * The resource-limits suite (issue 9): for every bounded field of every request, the largest
 * value it allows is not refused for its size, and one byte (item, entry, level) more is
 * INVALID_ARGUMENT FIELD_TOO_LARGE (or the field's older reason) naming the field, with nothing
 * written. Cases come from the bound table itself (test/helpers/limit-cases.ts). One real server,
 * one grpc-js connection; a few representative fields over Connect JSON too.
 */
import { create, type DescMethod, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import { ERROR_KINDS, type ErrorReason } from "../../src/domain/errors.js";
import { openStore, type Store } from "../../src/store/store.js";
import { adminHeaders } from "../helpers/e2e.js";
import { fill, limitCases } from "../helpers/limit-cases.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/** Room for the 4 MiB policy-text bounds, so every field's own bound is what refuses it. */
const MAX_MESSAGE_BYTES = 5 * 1024 * 1024;

interface Reply {
  readonly ok: boolean;
  readonly code: grpc.status;
  readonly reason: string;
  readonly details: Record<string, string>;
  readonly value?: Buffer | undefined;
}

/** One unary call of any method, encoded with protobuf-es; the ErrorInfo read from the trailers. */
function unary(client: grpc.Client, method: DescMethod, init: object, headers: Record<string, string>) {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) md.set(k, v);
  const body = Buffer.from(toBinary(method.input, create(method.input, init as never)));
  const path = `/${method.parent.typeName}/${method.name}`;
  const identity = (b: Buffer) => b;
  return new Promise<Reply>((resolve) => {
    client.makeUnaryRequest(
      path,
      identity,
      identity,
      body,
      md,
      { deadline: Date.now() + 20_000 },
      (err, value) => {
        if (!err) return resolve({ ok: true, code: grpc.status.OK, reason: "", details: {}, value });
        const bin = err.metadata?.get("grpc-status-details-bin")[0];
        const status = bin instanceof Buffer ? fromBinary(StatusSchema, bin) : undefined;
        const info = status?.details.map((d) => anyUnpack(d, ErrorInfoSchema)).find((i) => i);
        resolve({ ok: false, code: err.code, reason: info?.reason ?? "", details: { ...info?.metadata } });
      },
    );
  });
}

const CODE_OF: Record<string, grpc.status> = {
  invalid_argument: grpc.status.INVALID_ARGUMENT,
  unauthenticated: grpc.status.UNAUTHENTICATED,
};

const CASES = [...limitCases(AuthService), ...limitCases(AdminService)];

describe("resource limits: every bounded field, at its limit and one past it (gRPC)", () => {
  let server: TestServer;
  let client: grpc.Client;
  let admin: Record<string, string>;
  /** A second connection to the server's database (WAL), to count what no RPC lists. */
  let store: Store;
  const call = (method: DescMethod, init: object, headers = admin) => unary(client, method, init, headers);

  /**
   * A listing without credentials' usage (agents, API keys and the org's own credentials): counting
   * calls is no write, and this very listing counts against the org's key and admin token.
   */
  function withoutUsage(i: number, value: Buffer | undefined): string | undefined {
    if (!value || (i !== 0 && i !== 2)) return value?.toString("base64");
    const strip = <T extends { lastUsedAt?: unknown; useCount: bigint }>(x: T) => {
      x.lastUsedAt = undefined;
      x.useCount = 0n;
    };
    if (i === 0) {
      const out = fromBinary(AdminService.method.listAgents.output, value);
      out.agents.forEach(strip);
      return Buffer.from(toBinary(AdminService.method.listAgents.output, out)).toString("base64");
    }
    const out = fromBinary(AdminService.method.listApiKeys.output, value);
    [...out.keys, ...out.orgCredentials].forEach(strip);
    return Buffer.from(toBinary(AdminService.method.listApiKeys.output, out)).toString("base64");
  }

  /** What a write could change: the org's agents, policies, API keys and users, and all sessions. */
  async function state() {
    const a = AdminService.method;
    const lists = await Promise.all(
      [a.listAgents, a.listPolicies, a.listApiKeys, a.listUsers].map((m) => call(m, {})),
    );
    const sessions = store.db.prepare("SELECT COUNT(*) AS n FROM refresh_tokens").get();
    return { lists: lists.map((r, i) => withoutUsage(i, r.value)), sessions };
  }

  beforeAll(async () => {
    server = await startTestServer({ maxMessageBytes: MAX_MESSAGE_BYTES });
    admin = adminHeaders(server.org);
    store = openStore(server.dataDir);
    client = new grpc.Client(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure(), {
      "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    });
  });
  afterAll(async () => {
    client?.close();
    void store?.close();
    await server?.stop();
  });

  it("has a case for every bounded field of both services", () => {
    expect(CASES.length).toBeGreaterThan(100);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  it.each(CASES.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const largest = await call(c.method, c.largest);
    // It may be refused for another reason (NOT_FOUND, a syntax check), never for its size.
    expect(largest.reason, `${c.name}: the largest allowed value`).not.toBe(c.reason);
    expect(largest.reason).not.toBe("FIELD_TOO_LARGE");
    expect([grpc.status.INTERNAL, grpc.status.UNKNOWN]).not.toContain(largest.code);
    const before = await state();
    const over = await call(c.method, c.over);
    expect({ code: grpc.status[over.code], reason: over.reason, ...over.details }).toEqual({
      code: grpc.status[CODE_OF[ERROR_KINDS[c.reason]] ?? grpc.status.UNKNOWN],
      reason: c.reason,
      field: c.field,
      limit: String(c.limit),
      unit: c.unit,
    });
    expect(await state()).toEqual(before);
  });

  describe("tokens too large to verify are never minted (finding 13)", () => {
    const wideTags = Array.from({ length: 64 }, (_, i) => `t${i}`.padEnd(128, "x"));
    const auth = AuthService.method;
    const adm = AdminService.method;
    const agentOf = (r: Reply) =>
      fromBinary(adm.createAgent.output, r.value ?? Buffer.alloc(0)).agent?.id ?? "no agent";
    const secretOf = async (agentId: string) =>
      fromBinary(
        adm.createAgentSecret.output,
        (await call(adm.createAgentSecret, { agentId })).value as Buffer,
      ).secret;
    const login = (agentId: string, secret: string) =>
      call(
        auth.authenticate,
        { credential: { case: "agentSecret", value: { agentId, secret } }, issueTokens: true },
        {},
      );
    const refused = (r: Reply) => ({ code: grpc.status[r.code], reason: r.reason });
    const TOO_LARGE = { code: "INVALID_ARGUMENT", reason: "CLAIMS_TOO_LARGE" };

    it("refuses MintToken and a login for an agent whose claims would exceed 8 KiB, writing nothing", async () => {
      const wide = agentOf(await call(adm.createAgent, { name: "wide", tags: wideTags }));
      expect(refused(await call(auth.mintToken, { agentId: wide, scopes: ["governance:propose"] }))).toEqual(
        TOO_LARGE,
      );
      const secret = await secretOf(wide);
      const before = await state();
      expect(refused(await login(wide, secret))).toEqual(TOO_LARGE);
      expect(await state()).toEqual(before);
    });

    it("refuses a refresh whose claims grew too large, and leaves the refresh token usable", async () => {
      const grows = agentOf(await call(adm.createAgent, { name: "grows", tags: ["small"] }));
      const pair = fromBinary(
        auth.authenticate.output,
        (await login(grows, await secretOf(grows))).value as Buffer,
      );
      const refreshToken = pair.tokens?.refreshToken ?? "";
      await call(adm.updateAgent, { id: grows, tags: wideTags, setTags: true });
      expect(refused(await call(auth.refreshToken, { refreshToken }, {}))).toEqual(TOO_LARGE);
      await call(adm.updateAgent, { id: grows, tags: ["small"], setTags: true });
      expect((await call(auth.refreshToken, { refreshToken }, {})).ok).toBe(true);
    });
  });
});

describe("resource limits over Connect JSON (representative fields)", () => {
  let server: TestServer;
  let base: string;
  let headers: Record<string, string>;

  /** POSTs a JSON body; resolves to the HTTP status and the ErrorInfo reason and metadata, if any. */
  async function post(path: string, body: unknown) {
    const res = await fetch(`${base}/${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const json = (await res.json()) as { details?: { type: string; value: string }[] };
    const info = json.details?.find((d) => d.type === "google.rpc.ErrorInfo");
    const decoded = info && fromBinary(ErrorInfoSchema, Buffer.from(info.value, "base64"));
    return { status: res.status, reason: decoded?.reason ?? "", ...decoded?.metadata };
  }

  beforeAll(async () => {
    server = await startTestServer();
    base = `http://127.0.0.1:${server.httpPort}`;
    headers = adminHeaders(server.org);
  });
  afterAll(async () => server?.stop());

  const attributes = { id: "a1", tier: "TIER_VERIFIED", roles: ["operator"] };
  const deep = (levels: number): object => (levels <= 1 ? {} : { a: deep(levels - 1) });
  const refusal = (reason: ErrorReason, field: string) => ({ status: 400, reason, field });

  it.each<[string, string, (big: boolean) => unknown, ErrorReason, string]>([
    [
      "Authorize scope",
      "AuthService/Authorize",
      (big) => ({ attributes, scope: fill(big ? 257 : 256) }),
      "FIELD_TOO_LARGE",
      "scope",
    ],
    [
      "AuthorizeBatch checks[2].resource.id",
      "AuthService/AuthorizeBatch",
      (big) => ({
        attributes,
        checks: [0, 1, 2].map((i) => ({
          scope: "a:b",
          resource: { kind: "k", id: i === 2 ? fill(big ? 257 : 256) : "x" },
        })),
      }),
      "FIELD_TOO_LARGE",
      "checks[2].resource.id",
    ],
    [
      "Authorize context depth",
      "AuthService/Authorize",
      (big) => ({ attributes, scope: "a:b", context: deep(big ? 9 : 8) }),
      "FIELD_TOO_LARGE",
      `context${".a".repeat(8)}`,
    ],
    [
      "CreateAgent tags[1]",
      "AdminService/CreateAgent",
      (big) => ({ name: "json-tags", tags: ["a", "b".repeat(big ? 129 : 128)] }),
      "FIELD_TOO_LARGE",
      "tags[1]",
    ],
    [
      "AuthorizeBatch 101 checks",
      "AuthService/AuthorizeBatch",
      (big) => ({ attributes, checks: Array.from({ length: big ? 101 : 100 }, () => ({ scope: "a:b" })) }),
      "BATCH_TOO_LARGE",
      "checks",
    ],
  ])("%s", async (_name, path, body, reason, field) => {
    const largest = await post(`tessera.v1.${path}`, body(false));
    expect(largest.reason).not.toBe(reason);
    expect(largest.status).toBeLessThan(500);
    expect(await post(`tessera.v1.${path}`, body(true))).toMatchObject(refusal(reason, field));
  });
});
