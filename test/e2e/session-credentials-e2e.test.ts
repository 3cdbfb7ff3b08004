import * as grpc from "@grpc/grpc-js";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { databasePath } from "../../src/store/db.js";
import { addressOfPeer } from "../../src/transport/grpc-adapter.js";
import { adminHeaders, expectFailure, expectOk } from "../helpers/e2e.js";
import { grpcClients } from "../helpers/grpc-fixture.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const BOUND_MS = 2000;
const PASSWORD = "the first long password";

describe("two servers on one data dir: a credential change ends sessions on both (finding 11)", () => {
  let a: TestServer;
  let b: TestServer;
  let ca: ReturnType<typeof grpcClients>;
  let cb: ReturnType<typeof grpcClients>;
  let admin: Record<string, string>;
  beforeAll(async () => {
    a = await startTestServer();
    b = await startTestServer({}, a.dataDir);
    ca = grpcClients(`127.0.0.1:${a.grpcPort}`);
    cb = grpcClients(`127.0.0.1:${b.grpcPort}`);
    admin = adminHeaders(a.org);
  });
  afterAll(async () => {
    for (const c of [ca, cb]) for (const client of Object.values(c ?? {})) client.close();
    await b?.stop({ keepData: true });
    await a?.stop();
  });

  /** What the token gets from Authorize on server b: a reason, or the refusal's code and reason. */
  async function onB(token: string): Promise<string> {
    const r = await cb.auth.call("authorize", {
      subject: { case: "token", value: token },
      scope: "governance:read",
    });
    return r.ok ? r.value.reason : `${grpc.status[r.error.code]} ${r.error.reason}`;
  }

  /** Polls until `ask` says the token is refused as revoked, for at most BOUND_MS (the change log's bound). */
  async function settle(ask: () => Promise<string>): Promise<string> {
    const start = Date.now();
    let seen = await ask();
    while (seen !== "UNAUTHENTICATED TOKEN_REVOKED" && Date.now() - start < BOUND_MS) seen = await ask();
    return seen;
  }

  it("a new agent secret on a ends the session's access and refresh tokens on b", async () => {
    const created = expectOk(
      await ca.admin.call(
        "createAgent",
        { name: "rotating", tier: Tier.VERIFIED, roles: ["operator"] },
        admin,
      ),
    );
    const agentId = created.agent?.id ?? "";
    const { secret } = expectOk(await ca.admin.call("createAgentSecret", { agentId }, admin));
    const login = expectOk(
      await ca.auth.call("authenticate", {
        credential: { case: "agentSecret", value: { agentId, secret } },
        issueTokens: true,
      }),
    );
    const access = login.tokens?.accessToken ?? "";
    expect(await onB(access)).toBe("ALLOWED_BY_RULE");
    expectOk(await ca.admin.call("createAgentSecret", { agentId }, admin));
    const refresh = await cb.auth.call("refreshToken", { refreshToken: login.tokens?.refreshToken ?? "" });
    expectFailure(refresh, grpc.status.UNAUTHENTICATED, "REFRESH_TOKEN_INVALID");
    expect(await settle(() => onB(access))).toBe("UNAUTHENTICATED TOKEN_REVOKED");
  });

  it("a password reset on b ends the user's session started on a", async () => {
    const user = expectOk(
      await ca.admin.call("createUser", { username: "ops", password: PASSWORD, role: "admin" }, admin),
    );
    const login = expectOk(
      await ca.auth.call("authenticate", {
        credential: { case: "password", value: { orgId: a.org.orgId, username: "ops", password: PASSWORD } },
        issueTokens: true,
      }),
    );
    const access = login.tokens?.accessToken ?? "";
    const asUser = { authorization: `Bearer ${access}` };
    expectOk(await ca.admin.call("listUsers", {}, asUser));
    const userId = user.user?.id ?? "";
    expectOk(await cb.admin.call("setUserPassword", { userId, password: "the second long password" }, admin));
    const refresh = await ca.auth.call("refreshToken", { refreshToken: login.tokens?.refreshToken ?? "" });
    expectFailure(refresh, grpc.status.UNAUTHENTICATED, "REFRESH_TOKEN_INVALID");
    // a learns of the revocation b wrote through the change log, within its bound.
    const onA = async () => {
      const r = await ca.admin.call("listUsers", {}, asUser);
      return r.ok ? "OK" : `${grpc.status[r.error.code]} ${r.error.reason}`;
    };
    expect(await settle(onA)).toBe("UNAUTHENTICATED TOKEN_REVOKED");
    expect(await settle(() => onB(access))).toBe("UNAUTHENTICATED TOKEN_REVOKED");
  });
});

describe("the caller's address reaches the login limits on both ports (finding 19)", () => {
  let server: TestServer;
  let c: ReturnType<typeof grpcClients>;
  beforeAll(async () => {
    server = await startTestServer();
    c = grpcClients(`127.0.0.1:${server.grpcPort}`);
  });
  afterAll(async () => {
    for (const client of Object.values(c ?? {})) client.close();
    await server?.stop();
  });

  const sourceFailures = () => {
    const db = new Database(databasePath(server.dataDir), { readonly: true });
    try {
      return db
        .prepare("SELECT key, failures FROM login_throttle WHERE kind = 'source' ORDER BY key")
        .all() as { key: string; failures: number }[];
    } finally {
      db.close();
    }
  };
  const credential = { orgId: "", username: "nobody", password: "not the password at all" };

  it("counts a failed login over gRPC and over Connect against 127.0.0.1", async () => {
    credential.orgId = server.org.orgId;
    const grpcLogin = await c.auth.call("authenticate", {
      credential: { case: "password", value: credential },
    });
    expectFailure(grpcLogin, grpc.status.UNAUTHENTICATED, "LOGIN_FAILED");
    expect(sourceFailures()).toEqual([{ key: "ip:127.0.0.1", failures: 1 }]);
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/tessera.v1.AuthService/Authenticate`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ password: credential }),
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.status).toBe(401);
    expect(sourceFailures()).toEqual([{ key: "ip:127.0.0.1", failures: 2 }]);
  });

  it.each([
    ["127.0.0.1:50123", "127.0.0.1"],
    ["::1:50123", "::1"],
    ["::ffff:10.0.0.1:443", "::ffff:10.0.0.1"],
    ["2001:db8::5", "2001:db8::5"],
    ["unknown", undefined],
    ["", undefined],
  ])("reads the address of grpc-js peer %j", (peer, address) => {
    expect(addressOfPeer(peer)).toBe(address);
  });
});
