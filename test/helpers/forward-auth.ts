import { readFileSync } from "node:fs";
import { adminHeaders } from "./e2e.js";
import { createOperatorToken, startTestServer, type TestServer } from "./server.js";

/*
 * A real server for forward auth (issue #12): org A with the todo RouteMap and rules, an agent of
 * A (operator) and its token; org B with an agent (operator) and its token, and no RouteMap.
 */

export const FORWARD_POLICY = readFileSync("test/fixtures/forward-auth-policy.yaml", "utf8");

export interface ForwardFixture {
  readonly server: TestServer;
  readonly base: string;
  readonly agentA: string;
  readonly tokenA: string;
  readonly agentB: string;
  readonly tokenB: string;
  readonly orgB: string;
  /** Org B's own API key and admin token. */
  readonly bAdmin: Record<string, string>;
  /** Calls a Connect JSON method on the HTTP port; throws unless 200. */
  connect(path: string, body: unknown, headers: Record<string, string>): Promise<Record<string, unknown>>;
}

async function connectAt(base: string, path: string, body: unknown, headers: Record<string, string>) {
  const res = await fetch(`${base}/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** An operator agent of the org and an access token for it (agent secret → Authenticate). */
async function agentToken(base: string, admin: Record<string, string>, name: string) {
  const created = await connectAt(
    base,
    "tessera.v1.AdminService/CreateAgent",
    { name, tier: "TIER_VERIFIED", roles: ["operator"] },
    admin,
  );
  const agentId = (created.agent as { id: string }).id;
  const { secret } = (await connectAt(
    base,
    "tessera.v1.AdminService/CreateAgentSecret",
    { agentId },
    admin,
  )) as { secret: string };
  const login = await connectAt(
    base,
    "tessera.v1.AuthService/Authenticate",
    { agentSecret: { agentId, secret }, issueTokens: true },
    {},
  );
  return { agentId, token: (login.tokens as { accessToken: string }).accessToken };
}

export async function startForwardFixture(): Promise<ForwardFixture> {
  const server = await startTestServer();
  const base = `http://127.0.0.1:${server.httpPort}`;
  const admin = adminHeaders(server.org);
  await connectAt(base, "tessera.v1.AdminService/PutPolicy", { document: FORWARD_POLICY }, admin);
  const a = await agentToken(base, admin, "scout");
  const operator = { "x-operator-token": createOperatorToken(server.dataDir) };
  const b = await connectAt(base, "tessera.v1.SystemService/CreateOrg", { name: "org-b" }, operator);
  const bAdmin = { "x-api-key": b.apiKey as string, "x-admin-token": b.adminToken as string };
  const bAgent = await agentToken(base, bAdmin, "b-scout");
  return {
    server,
    base,
    agentA: a.agentId,
    tokenA: a.token,
    agentB: bAgent.agentId,
    tokenB: bAgent.token,
    orgB: (b.org as { id: string }).id,
    bAdmin,
    connect: (path, body, headers) => connectAt(base, path, body, headers),
  };
}
