import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import { generateSecret } from "../../src/auth/secrets.js";
import { cliEnv, type ServeProcess, spawnServe } from "../helpers/cli.js";
import { tamperPayload } from "../helpers/e2e.js";
import { grpcClient } from "../helpers/grpc-client.js";
import { createOperatorToken, tempDir } from "../helpers/server.js";

const PASSWORD = "the right password, long enough";
const WRONG = "a wrong password, also long";
const WEAK = "weak-pw-xyz";
/** The master key the server runs with: no log line may carry it, in any encoding. */
const MASTER_KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => 200 + (i % 50)));

describe("no secret in any response, error or log line of a real `tessera serve --log-level debug`", () => {
  const data = tempDir();
  let serve: ServeProcess;
  let output = "";
  let base = "";
  let grpcAddress = "";
  let org = { apiKey: "", adminToken: "" };
  let operatorToken = "";
  /** Every secret the flows handled, right or wrong. */
  const secrets = new Set<string>([
    PASSWORD,
    WRONG,
    WEAK,
    MASTER_KEY.toString("base64"),
    MASTER_KEY.toString("hex"),
    // How JSON.stringify writes a Buffer.
    JSON.stringify(MASTER_KEY).slice(1, -1),
  ]);
  /** Every response body and error the flows saw, with the secrets each response legitimately issued cut out. */
  const seen: string[] = [];

  beforeAll(async () => {
    operatorToken = await createOperatorToken(data.dir);
    secrets.add(operatorToken);
    serve = spawnServe(
      [
        "--data-dir",
        data.dir,
        "--grpc-port",
        "0",
        "--http-port",
        "0",
        "--workers",
        "1",
        "--log-level",
        "debug",
      ],
      { ...cliEnv(data.dir), TESSERA_MASTER_KEY: MASTER_KEY.toString("base64") },
    );
    serve.child.stdout?.on("data", (b: Buffer) => {
      output += b.toString();
    });
    serve.child.stderr?.on("data", (b: Buffer) => {
      output += b.toString();
    });
    const ready = await serve.ready;
    base = `http://127.0.0.1:${ready.httpPort}`;
    grpcAddress = `127.0.0.1:${ready.grpcPort}`;
    org = {
      apiKey: ready.exports.TESSERA_API_KEY ?? "",
      adminToken: ready.exports.TESSERA_ADMIN_TOKEN ?? "",
    };
    secrets.add(org.apiKey).add(org.adminToken);
  });
  afterAll(() => data.cleanup());

  /** A Connect JSON call; records the raw body, minus what it issued (`issues` picks those out). */
  async function call(
    path: string,
    body: unknown,
    headers: Record<string, string> = {},
    issues: (json: Record<string, unknown>) => unknown[] = () => [],
  ): Promise<Record<string, unknown>> {
    const res = await fetch(`${base}/tessera.v1.${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    let text = await res.text();
    const json = JSON.parse(text) as Record<string, unknown>;
    for (const s of issues(json).filter((x): x is string => typeof x === "string" && x !== "")) {
      secrets.add(s);
      text = text.split(s).join("<issued>");
    }
    seen.push(`${path} ${res.status} ${text}`);
    return json;
  }
  const admin = () => ({ "x-api-key": org.apiKey, "x-admin-token": org.adminToken });
  const pair = (j: Record<string, unknown>) => {
    const t = (j.tokens ?? {}) as Record<string, string>;
    return [t.accessToken, t.refreshToken];
  };

  it("drives every kind of secret through right and wrong calls", async () => {
    const key = await call(
      "AdminService/CreateApiKey",
      { name: "bot", scopes: ["governance:read"] },
      admin(),
      (j) => [j.apiKey],
    );
    const scoped = key.apiKey as string;
    const agent = await call(
      "AdminService/CreateAgent",
      { name: "a1", tier: "TIER_VERIFIED", roles: ["operator"] },
      admin(),
    );
    const agentId = (agent.agent as { id: string }).id;
    const { secret } = (await call("AdminService/CreateAgentSecret", { agentId }, admin(), (j) => [
      j.secret,
    ])) as { secret: string };
    await call("AdminService/CreateUser", { username: "ada", password: PASSWORD, role: "admin" }, admin());
    const login = await call(
      "AuthService/Authenticate",
      { agentSecret: { agentId, secret }, issueTokens: true },
      {},
      pair,
    );
    const [access, refresh] = pair(login) as [string, string];
    const orgId = (login.principal as { orgId: string }).orgId;
    const user = await call(
      "AuthService/Authenticate",
      { password: { orgId, username: "ada", password: PASSWORD }, issueTokens: true },
      {},
      pair,
    );
    const [userAccess] = pair(user) as [string];
    const minted = await call(
      "AuthService/MintToken",
      { agentId, scopes: ["governance:*"], ttl: "600s" },
      admin(),
      (j) => [j.token],
    );
    await call(
      "AuthService/MintToken",
      { agentId, scopes: ["governance:read"], ttl: "60s" },
      { authorization: `Bearer ${minted.token}` },
      (j) => [j.token],
    );
    await call("AuthService/WhoAmI", {}, { authorization: `Bearer ${userAccess}` });
    await call("AuthService/Authorize", { token: access, scope: "governance:read" });
    await call("AuthService/IntrospectToken", { token: refresh }, { "x-api-key": scoped });
    await call("AuthService/IntrospectToken", { token: access }, { "x-api-key": scoped });
    await call("AuthService/RefreshToken", { refreshToken: refresh }, {}, pair);

    const bogus = ["apiKey", "adminToken", "agentSecret", "refreshToken"] as const;
    const [unknownKey, unknownAdmin, unknownSecret, unknownRefresh] = bogus.map((k) =>
      generateSecret(k),
    ) as string[];
    const tampered = tamperPayload(access);
    for (const s of [unknownKey, unknownAdmin, unknownSecret, unknownRefresh, tampered]) secrets.add(s ?? "");
    const malformedKey = `${org.apiKey.slice(0, -2)}zz`;
    secrets.add(malformedKey);
    const failing: [string, unknown, Record<string, string>][] = [
      ["AuthService/Authenticate", { password: { orgId, username: "ada", password: WRONG } }, {}],
      ["AuthService/Authenticate", { password: { orgId, username: "nobody", password: PASSWORD } }, {}],
      ["AuthService/Authenticate", { agentSecret: { agentId, secret: unknownSecret } }, {}],
      ["AuthService/Authenticate", { agentSecret: { agentId, secret: `${secret}x` } }, {}],
      ["AuthService/Authenticate", { apiKey: malformedKey }, {}],
      ["AuthService/Authenticate", { adminToken: { apiKey: org.apiKey, adminToken: unknownAdmin } }, {}],
      ["AuthService/Authenticate", { token: tampered }, {}],
      ["AuthService/Authorize", { token: access.slice(0, -3), scope: "governance:read" }, {}],
      ["AuthService/RefreshToken", { refreshToken: refresh }, {}],
      ["AuthService/RefreshToken", { refreshToken: unknownRefresh }, {}],
      ["AuthService/Logout", { refreshToken: unknownRefresh }, {}],
      ["AuthService/WhoAmI", {}, { authorization: `Bearer ${tampered}` }],
      ["AuthService/IntrospectToken", { token: access }, { "x-api-key": unknownKey ?? "" }],
      ["AdminService/ListAgents", {}, { "x-api-key": unknownKey ?? "", "x-admin-token": org.adminToken }],
      ["AdminService/ListAgents", {}, { "x-api-key": malformedKey, "x-admin-token": org.adminToken }],
      ["AdminService/ListAgents", {}, { "x-api-key": scoped }],
      ["AdminService/ListAgents", {}, { "x-admin-token": org.adminToken }],
      ["AdminService/CreateUser", { username: "bob", password: WEAK, role: "viewer" }, admin()],
    ];
    for (const [path, body, headers] of failing) {
      const res = await call(path, body, headers);
      expect(res.code, `${path} ${JSON.stringify(body)}`).toBeTypeOf("string");
    }

    const rpc = grpcClient(AuthService, grpcAddress);
    for (const res of [
      await rpc.call("authenticate", { credential: { case: "token", value: tampered } }),
      await rpc.call("authenticate", { credential: { case: "apiKey", value: unknownKey ?? "" } }),
      await rpc.call("refreshToken", { refreshToken: refresh }),
      await rpc.call("whoAmI", {}, { authorization: `Bearer ${access}x` }),
    ]) {
      expect(res.ok).toBe(false);
      seen.push(JSON.stringify(res));
    }
    rpc.close();
    await call("AdminService/RotateOrgCredentials", {}, admin(), (j) => [j.apiKey, j.adminToken]);
    const operator = { "x-operator-token": operatorToken };
    await call("SystemService/CreateOrg", { name: "acme" }, operator, (j) => [j.apiKey, j.adminToken]);
    const unknownOperator = generateSecret("operatorToken");
    secrets.add(unknownOperator);
    for (const [path, headers] of [
      ["SystemService/ListOrgs", { "x-operator-token": unknownOperator }],
      ["SystemService/ListOrgs", { "x-operator-token": `${operatorToken.slice(0, -2)}zz` }],
      ["SystemService/ListOrgs", { "x-operator-token": org.adminToken }],
      ["SystemService/RotateSigningKeys", admin()],
      ["AdminService/ListAgents", operator],
    ] as const) {
      expect((await call(path, {}, headers)).code).toBeTypeOf("string");
    }
    await call("AdminService/ListAgents", {}, admin());
    expect(await serve.stop()).toBe(0);
  });

  it("says it listens in named fields only (a single process once logged its whole core, master key and all)", () => {
    const line = output.split("\n").find((l) => l.startsWith("{") && l.includes('"tessera listening"'));
    const listening = JSON.parse(line ?? "{}") as Record<string, unknown>;
    expect(Object.keys(listening).sort()).toEqual(
      ["level", "time", "service", "msg"]
        .concat(["grpcPort", "httpPort", "host", "dataDir", "workers", "tls", "mtls", "devOrg"])
        .sort(),
    );
  });

  it("logs, at debug level, each request and each admin action as JSON lines with ISO times", () => {
    const records = output
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const r of records) expect(r.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const calls = records.filter((r) => r.msg === "request" || r.msg === "admin action");
    const call = (rpc: string, code: string) =>
      calls.find((r) => r.rpc === `tessera.v1.${rpc}` && r.code === code);
    expect(call("AuthService/Authorize", "OK")).toMatchObject({ msg: "request", ms: expect.any(Number) });
    expect(call("AuthService/RefreshToken", "UNAUTHENTICATED")).toMatchObject({
      msg: "request",
      caller: "none",
      reason: expect.any(String),
    });
    expect(call("AuthService/IntrospectToken", "OK")).toMatchObject({ msg: "request", caller: "api-key" });
    expect(call("AdminService/CreateAgent", "OK")).toMatchObject({
      msg: "admin action",
      caller: "org-admin",
      target: { name: "a1" },
    });
    expect(call("SystemService/CreateOrg", "OK")).toMatchObject({
      msg: "admin action",
      caller: "operator",
      target: { name: "acme" },
    });
    expect(call("AdminService/CreateUser", "INVALID_ARGUMENT")).toMatchObject({
      msg: "admin action",
      target: { username: "bob" },
    });
  });

  it("finds none of them anywhere but in the dev-org banner, once", () => {
    const lines = output.split("\n");
    const banner = [
      `    export TESSERA_API_KEY=${org.apiKey}`,
      `    export TESSERA_ADMIN_TOKEN=${org.adminToken}`,
    ];
    for (const b of banner) expect(lines.filter((l) => l === b)).toHaveLength(1);
    const logs = lines.filter((l) => !banner.includes(l)).join("\n");
    expect(logs).toContain("tessera listening");
    expect(seen.length).toBeGreaterThan(30);
    const needles = [...secrets].filter((s) => s.length > 0);
    // A JWT's signature alone is as telling as the whole token.
    for (const s of [...needles]) if (s.split(".").length === 3) needles.push(s.split(".")[2] ?? s);
    for (const s of needles) {
      expect(logs.includes(s), `server output contains ${s.slice(0, 12)}…`).toBe(false);
      expect(
        seen.filter((r) => r.includes(s)),
        `responses contain ${s.slice(0, 12)}…`,
      ).toEqual([]);
    }
  });
});
