import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import type * as net from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ensureDebianProgram,
  type ForwardFixture,
  freePort,
  startForwardFixture,
} from "../helpers/forward-auth.js";
import { tempDir } from "../helpers/server.js";

/*
 * Issue #12 with a real Caddy (Debian's package: .ci/run installs it when missing) in front of a
 * small upstream started here: Caddy's `forward_auth` asks Tessera's /v1/forward-auth before
 * proxying, with its own API key on the auth request (`header_up`) and the agent's token as the
 * client sent it, and copies the X-Tessera-* answer headers onto the proxied request. The Caddyfile
 * is the README's snippet; the policy fixture the nginx test's. No Caddy here is a failure, never
 * a skip.
 */

/**
 * The README's Caddy snippet, as written, pointed at this test's ports: the site on a free port of
 * 127.0.0.1 over plain HTTP, Tessera's HTTP port, its API key and the upstream. Global options
 * keep Caddy to itself: no admin endpoint, no automatic HTTPS.
 */
function caddyfile(port: number, tesseraPort: number, upstreamPort: number, apiKey: string): string {
  const block = /```caddyfile\n([\s\S]*?)```/.exec(readFileSync("README.md", "utf8"))?.[1];
  if (!block) throw new Error("README.md has no caddyfile block");
  const site = block
    .replace("todo.example.com {", `http://:${port} {\n    bind 127.0.0.1`)
    .replace("forward_auth tessera:8080", `forward_auth 127.0.0.1:${tesseraPort}`)
    .replace('"tsk_…"', apiKey)
    .replace("reverse_proxy backend:8080", `reverse_proxy 127.0.0.1:${upstreamPort}`);
  expect(site).not.toMatch(/tessera:8080|backend:8080|tsk_…|example\.com/);
  return `{\n\tadmin off\n\tauto_https off\n}\n\n${site}`;
}

/** What the upstream saw of one request. */
interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
}

describe("forward auth behind a real Caddy (forward_auth)", { timeout: 60_000 }, () => {
  let f: ForwardFixture;
  let dir: { dir: string; cleanup: () => void };
  let upstream: http.Server;
  let caddy: ChildProcess | undefined;
  let caddyExit: string | undefined;
  let caddyLog = "";
  let proxyBase: string;
  const seen: Seen[] = [];

  beforeAll(async () => {
    const bin = ensureDebianProgram("caddy", ["/usr/bin/caddy", "/usr/local/bin/caddy"]);
    f = await startForwardFixture();
    dir = tempDir("tessera-caddy-");
    upstream = http.createServer((req, res) => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
      res.end(`upstream ${req.method} ${req.url}`);
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    const upstreamPort = (upstream.address() as net.AddressInfo).port;
    const port = await freePort();
    const conf = join(dir.dir, "Caddyfile");
    writeFileSync(conf, caddyfile(port, f.server.httpPort, upstreamPort, f.server.org.apiKey));
    // Caddy keeps its state under $HOME / XDG dirs: all of it in the temp dir.
    const env = {
      PATH: process.env.PATH ?? "",
      HOME: dir.dir,
      XDG_CONFIG_HOME: join(dir.dir, "config"),
      XDG_DATA_HOME: join(dir.dir, "data"),
    };
    caddy = spawn(bin, ["run", "--config", conf, "--adapter", "caddyfile"], {
      env,
      cwd: dir.dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const collect = (c: Buffer) => {
      caddyLog += c.toString();
    };
    caddy.stdout?.on("data", collect);
    caddy.stderr?.on("data", collect);
    caddy.once("exit", (code, signal) => {
      caddyExit = `caddy exited (${code ?? signal}): ${caddyLog}`;
    });
    proxyBase = `http://127.0.0.1:${port}`;
    // Ready when it answers; a Caddy that exits (a bad Caddyfile, the port taken) fails the test.
    for (let i = 0; ; i++) {
      if (caddyExit) throw new Error(caddyExit);
      const up = await fetch(`${proxyBase}/`, { signal: AbortSignal.timeout(1000) }).then(
        () => true,
        () => false,
      );
      if (up) break;
      if (i > 200) throw new Error(`caddy did not answer: ${caddyLog}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 300_000); // room for installing Caddy on first use

  afterAll(async () => {
    if (caddy && caddy.exitCode === null && caddy.signalCode === null) {
      const exited = new Promise((r) => caddy?.once("exit", r));
      caddy.kill("SIGTERM");
      await exited;
    }
    await new Promise((r) => (upstream ? upstream.close(r) : r(undefined)));
    await f?.server.stop();
    dir?.cleanup();
  });

  const send = async (path: string, headers: Record<string, string> = {}, method = "GET") => {
    const res = await fetch(`${proxyBase}${path}`, { method, headers, signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    let reason: unknown;
    try {
      reason = (JSON.parse(text) as { reason?: unknown }).reason;
    } catch {
      reason = undefined;
    }
    return { status: res.status, text, reason, headers: res.headers };
  };
  const agent = () => ({ authorization: `Bearer ${f.tokenA}` });

  it("ALLOW: the agent's request reaches the upstream, with the copied X-Tessera-* headers", async () => {
    const before = seen.length;
    const r = await send("/todos/42?full=1", agent());
    expect({ status: r.status, text: r.text }).toEqual({
      status: 200,
      text: "upstream GET /todos/42?full=1",
    });
    expect(seen.length).toBe(before + 1);
    const h = seen.at(-1)?.headers ?? {};
    expect(h["x-tessera-principal"]).toBe(f.agentA);
    expect(h["x-tessera-scope"]).toBe("todos:read");
    expect(h["x-tessera-decision-id"]).toMatch(/^[0-9a-f-]{36}$/);
    // The agent's token is proxied on as sent; Caddy's own API key stays on the auth request.
    expect(h.authorization).toBe(`Bearer ${f.tokenA}`);
    expect(h["x-api-key"]).toBeUndefined();
  });

  it("a client's own X-Tessera-Principal is replaced by Tessera's answer, never passed on", async () => {
    const r = await send("/todos", { ...agent(), "x-tessera-principal": "agent_forged" });
    expect(r.status).toBe(200);
    expect(seen.at(-1)?.headers["x-tessera-principal"]).toBe(f.agentA);
    expect(seen.at(-1)?.headers["x-tessera-scope"]).toBe("todos:list");
  });

  it("DENY: 403 with Tessera's reason, and the upstream never sees the request", async () => {
    const before = seen.length;
    const r = await send("/todos/42", agent(), "PUT");
    expect({ status: r.status, reason: r.reason }).toEqual({ status: 403, reason: "NO_MATCHING_RULE" });
    expect(r.headers.get("x-tessera-decision-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen.length).toBe(before);
  });

  it("an unknown route gets the RouteMap's default (deny: 403 NO_ROUTE)", async () => {
    const before = seen.length;
    for (const path of ["/admin", "/todos/42/extra", "/todosx"]) {
      const r = await send(path, agent());
      expect({ path, status: r.status, reason: r.reason }).toEqual({ path, status: 403, reason: "NO_ROUTE" });
    }
    expect(seen.length).toBe(before);
  });

  it("no token: 401 CREDENTIAL_MISSING with WWW-Authenticate; another org's token: 401 TOKEN_ORG_MISMATCH", async () => {
    const before = seen.length;
    const none = await send("/todos");
    expect({ status: none.status, reason: none.reason }).toEqual({
      status: 401,
      reason: "CREDENTIAL_MISSING",
    });
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    const other = await send("/todos", { authorization: `Bearer ${f.tokenB}` });
    expect({ status: other.status, reason: other.reason }).toEqual({
      status: 401,
      reason: "TOKEN_ORG_MISMATCH",
    });
    expect(seen.length).toBe(before);
  });

  it("a client's own X-Forwarded-Uri is overwritten by Caddy: the request decided is the one proxied", async () => {
    const before = seen.length;
    const r = await send(
      "/admin",
      { ...agent(), "x-forwarded-uri": "/todos", "x-forwarded-method": "GET" },
      "GET",
    );
    expect({ status: r.status, reason: r.reason }).toEqual({ status: 403, reason: "NO_ROUTE" });
    expect(seen.length).toBe(before);
  });

  it("a client's own X-Original-URI that disagrees with Caddy's X-Forwarded-Uri: 400, not proxied", async () => {
    const before = seen.length;
    const r = await send("/admin", { ...agent(), "x-original-uri": "/todos" });
    expect({ status: r.status, reason: r.reason }).toEqual({ status: 400, reason: "REQUEST_MALFORMED" });
    expect(seen.length).toBe(before);
  });
});
