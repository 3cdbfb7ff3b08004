import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as net from "node:net";
import type { ConfigInput } from "../../src/config/config.js";
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

/** One POST of a JSON body: its status and text (fetch over plain HTTP unless a test gives another). */
export type Post = (
  url: string,
  body: string,
  headers: Record<string, string>,
) => Promise<{ status: number; text: string }>;

const fetchPost: Post = async (url, body, headers) => {
  const res = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
};

async function connectAt(
  base: string,
  path: string,
  body: unknown,
  headers: Record<string, string>,
  post: Post = fetchPost,
) {
  const res = await post(`${base}/${path}`, JSON.stringify(body), {
    "content-type": "application/json",
    ...headers,
  });
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${res.text}`);
  return JSON.parse(res.text) as Record<string, unknown>;
}

/** An operator agent of the org and an access token for it (agent secret → Authenticate). */
async function agentToken(base: string, admin: Record<string, string>, name: string, post: Post) {
  const created = await connectAt(
    base,
    "tessera.v1.AdminService/CreateAgent",
    { name, tier: "TIER_VERIFIED", roles: ["operator"] },
    admin,
    post,
  );
  const agentId = (created.agent as { id: string }).id;
  const { secret } = (await connectAt(
    base,
    "tessera.v1.AdminService/CreateAgentSecret",
    { agentId },
    admin,
    post,
  )) as { secret: string };
  const login = await connectAt(
    base,
    "tessera.v1.AuthService/Authenticate",
    { agentSecret: { agentId, secret }, issueTokens: true },
    {},
    post,
  );
  return { agentId, token: (login.tokens as { accessToken: string }).accessToken };
}

/**
 * The fixture on a server started with `overrides` (TLS files, say); `post` makes its setup calls
 * (an HTTPS port needs a client that trusts its CA). The base URL is https:// when TLS is on.
 */
export async function startForwardFixture(
  opts: { overrides?: ConfigInput; post?: Post } = {},
): Promise<ForwardFixture> {
  const server = await startTestServer(opts.overrides ?? {});
  const post = opts.post ?? fetchPost;
  const scheme = opts.overrides?.tlsCert ? "https" : "http";
  const base = `${scheme}://127.0.0.1:${server.httpPort}`;
  const admin = adminHeaders(server.org);
  await connectAt(base, "tessera.v1.AdminService/PutPolicy", { document: FORWARD_POLICY }, admin, post);
  const a = await agentToken(base, admin, "scout", post);
  const operator = { "x-operator-token": await createOperatorToken(server.dataDir) };
  const b = await connectAt(base, "tessera.v1.SystemService/CreateOrg", { name: "org-b" }, operator, post);
  const bAdmin = { "x-api-key": b.apiKey as string, "x-admin-token": b.adminToken as string };
  const bAgent = await agentToken(base, bAdmin, "b-scout", post);
  return {
    server,
    base,
    agentA: a.agentId,
    tokenA: a.token,
    agentB: bAgent.agentId,
    tokenB: bAgent.token,
    orgB: (b.org as { id: string }).id,
    bAdmin,
    connect: (path, body, headers) => connectAt(base, path, body, headers, post),
  };
}

/** A port free right now on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A program on PATH, or at one of `paths` (/usr/sbin is not on every user's PATH). */
function findProgram(name: string, paths: readonly string[]): string | undefined {
  const found = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim();
  if (found) return found;
  return paths.find((p) => existsSync(p));
}

/**
 * A proxy the forward-auth tests run for real (Debian's package `name`), installed on first use
 * with apt-get when this user may (root, as on CI and in a container). Otherwise it throws,
 * saying how to install it: the tests that need it fail, they never skip.
 */
export function ensureDebianProgram(name: string, paths: readonly string[]): string {
  const found = findProgram(name, paths);
  if (found) return found;
  const root = process.getuid?.() === 0;
  if (root && spawnSync("sh", ["-c", "command -v apt-get"]).status === 0) {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const apt = (args: string[]) => spawnSync("apt-get", args, { env, stdio: "ignore", timeout: 180_000 });
    apt(["update", "-q"]);
    apt(["install", "-y", "-q", "--no-install-recommends", name]);
    const installed = findProgram(name, paths);
    if (installed) return installed;
  }
  throw new Error(
    `${name} is not installed and could not be installed here: this test needs Debian's ${name} (apt-get install -y --no-install-recommends ${name}; .ci/run installs it)`,
  );
}
