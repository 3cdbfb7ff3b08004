import { fromBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { AuthMethod, PrincipalKind, Tier } from "../../gen/tessera/v1/types_pb.js";
import { adminHeaders, expectFailure, expectOk } from "../helpers/e2e.js";
import { grpcClients } from "../helpers/grpc-fixture.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/** The ErrorInfo reason of a Connect JSON error body. */
function reasonOf(body: { details?: { type: string; value: string }[] }): string {
  const info = body.details?.find((d) => d.type === "google.rpc.ErrorInfo");
  return info ? fromBinary(ErrorInfoSchema, Buffer.from(info.value, "base64")).reason : "";
}

describe("credentials end to end: real server, grpc-js and Connect JSON", () => {
  let server: TestServer;
  let c: ReturnType<typeof grpcClients>;
  let admin: Record<string, string>;
  beforeAll(async () => {
    server = await startTestServer();
    c = grpcClients(`127.0.0.1:${server.grpcPort}`);
    admin = adminHeaders(server.org);
  });
  afterAll(async () => {
    for (const client of Object.values(c ?? {})) client.close();
    await server?.stop();
  });

  const authorize = (token: string) =>
    c.auth.call("authorize", { subject: { case: "token", value: token }, scope: "governance:read" });

  it("agent secret → token pair → refresh → suspend → refused", async () => {
    const created = expectOk(
      await c.admin.call("createAgent", { name: "walker", tier: Tier.VERIFIED, roles: ["operator"] }, admin),
    );
    const agentId = created.agent?.id ?? "";
    const { secret } = expectOk(await c.admin.call("createAgentSecret", { agentId }, admin));
    const login = () =>
      c.auth.call("authenticate", {
        credential: { case: "agentSecret", value: { agentId, secret } },
        issueTokens: true,
      });
    const first = expectOk(await login()).tokens;
    const renewed = expectOk(await c.auth.call("refreshToken", { refreshToken: first?.refreshToken ?? "" }));
    const access = renewed.tokens?.accessToken ?? "";
    expect(access).not.toBe(first?.accessToken);
    expect(expectOk(await authorize(access)).decision).toBe(Decision.ALLOW);
    expectOk(await c.admin.call("suspendAgent", { id: agentId }, admin));
    expectFailure(await authorize(access), grpc.status.UNAUTHENTICATED, "AGENT_SUSPENDED");
    expectFailure(await login(), grpc.status.UNAUTHENTICATED, "AGENT_SUSPENDED");
  });

  it("password login → WhoAmI → logout → refused", async () => {
    const password = "a long enough password";
    expectOk(await c.admin.call("createUser", { username: "grace", password, role: "viewer" }, admin));
    const res = expectOk(
      await c.auth.call("authenticate", {
        credential: { case: "password", value: { orgId: server.org.orgId, username: "grace", password } },
        issueTokens: true,
      }),
    );
    const bearer = { authorization: `Bearer ${res.tokens?.accessToken ?? ""}` };
    const who = expectOk(await c.auth.call("whoAmI", {}, bearer));
    expect(who.principal).toMatchObject({
      kind: PrincipalKind.USER,
      name: "grace",
      authMethod: AuthMethod.TOKEN,
    });
    expectOk(await c.auth.call("logout", {}, bearer));
    expectFailure(await c.auth.call("whoAmI", {}, bearer), grpc.status.UNAUTHENTICATED, "TOKEN_REVOKED");
    const refresh = await c.auth.call("refreshToken", { refreshToken: res.tokens?.refreshToken ?? "" });
    expectFailure(refresh, grpc.status.UNAUTHENTICATED, "REFRESH_TOKEN_INVALID");
  });

  it("a scoped key over Connect JSON: allowed within its scope, refused with its reason outside", async () => {
    const created = expectOk(
      await c.admin.call("createApiKey", { name: "policy bot", scopes: ["policies:manage"] }, admin),
    );
    const post = async (method: string) => {
      const res = await fetch(`http://127.0.0.1:${server.httpPort}/tessera.v1.AdminService/${method}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": created.apiKey },
        body: "{}",
        signal: AbortSignal.timeout(10_000),
      });
      return { status: res.status, body: (await res.json()) as { code?: string; details?: [] } };
    };
    const ok = await post("ListPolicies");
    expect(ok.status).toBe(200);
    const denied = await post("ListAgents");
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe("permission_denied");
    expect(reasonOf(denied.body)).toBe("API_KEY_SCOPE_MISSING");
    const rotated = await post("RotateOrgCredentials");
    expect([rotated.status, reasonOf(rotated.body)]).toEqual([403, "API_KEY_SCOPE_MISSING"]);
  });
});
