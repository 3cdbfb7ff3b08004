import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ForwardFixture, startForwardFixture } from "../helpers/forward-auth.js";
import { tempDir } from "../helpers/server.js";

/*
 * Issue #12 with a real nginx (Debian's package: .ci/run installs it when missing) in front of a
 * small upstream started here: nginx asks Tessera's /v1/forward-auth with `auth_request` before
 * proxying, with its own API key on the subrequest and the agent's token forwarded as sent.
 * No nginx here is a failure, never a skip: the test proves the proxy integration.
 */

/** nginx on PATH, or where Debian puts it (/usr/sbin is not on every user's PATH). */
function findNginx(): string | undefined {
  const found = spawnSync("sh", ["-c", "command -v nginx"], { encoding: "utf8" }).stdout.trim();
  if (found) return found;
  return ["/usr/sbin/nginx", "/usr/local/sbin/nginx"].find((p) => existsSync(p));
}

/**
 * nginx, installed on first use like the other tools the checks need: Debian's package with
 * apt-get when this user may (root, as on CI and in a container). Otherwise the test fails,
 * saying how to install it; it never skips.
 */
function ensureNginx(): string {
  const found = findNginx();
  if (found) return found;
  const root = process.getuid?.() === 0;
  if (root && spawnSync("sh", ["-c", "command -v apt-get"]).status === 0) {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const apt = (args: string[]) => spawnSync("apt-get", args, { env, stdio: "ignore", timeout: 180_000 });
    apt(["update", "-q"]);
    apt(["install", "-y", "-q", "--no-install-recommends", "nginx"]);
    const installed = findNginx();
    if (installed) return installed;
  }
  throw new Error(
    "nginx is not installed and could not be installed here: this test needs Debian's nginx (apt-get install -y --no-install-recommends nginx; .ci/run installs it)",
  );
}

/** A port free right now on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function nginxConf(dir: string, port: number, tesseraPort: number, upstreamPort: number, apiKey: string) {
  const temp = (name: string) => join(dir, name);
  return `
daemon off;
master_process off;
pid ${temp("nginx.pid")};
error_log ${temp("error.log")} info;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${temp("body")};
  proxy_temp_path ${temp("proxy")};
  fastcgi_temp_path ${temp("fastcgi")};
  uwsgi_temp_path ${temp("uwsgi")};
  scgi_temp_path ${temp("scgi")};
  server {
    listen 127.0.0.1:${port};
    location = /_tessera {
      internal;
      proxy_pass http://127.0.0.1:${tesseraPort}/v1/forward-auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header x-api-key ${apiKey};
    }
    location / {
      auth_request /_tessera;
      auth_request_set $tessera_principal $upstream_http_x_tessera_principal;
      auth_request_set $tessera_scope $upstream_http_x_tessera_scope;
      proxy_set_header X-Tessera-Principal $tessera_principal;
      proxy_set_header X-Tessera-Scope $tessera_scope;
      proxy_pass http://127.0.0.1:${upstreamPort};
    }
  }
}
`;
}

describe("forward auth behind a real nginx (auth_request)", { timeout: 60_000 }, () => {
  let f: ForwardFixture;
  let dir: { dir: string; cleanup: () => void };
  let upstream: http.Server;
  let nginx: ChildProcess | undefined;
  let nginxExit: string | undefined;
  let proxyBase: string;
  const seen: string[] = [];

  beforeAll(async () => {
    const bin = ensureNginx();
    f = await startForwardFixture();
    dir = tempDir("tessera-nginx-");
    for (const d of ["body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(join(dir.dir, d));
    upstream = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.end(
        `upstream ${req.method} ${req.url} principal=${req.headers["x-tessera-principal"]} scope=${req.headers["x-tessera-scope"]}`,
      );
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    const upstreamPort = (upstream.address() as net.AddressInfo).port;
    const port = await freePort();
    const conf = join(dir.dir, "nginx.conf");
    writeFileSync(conf, nginxConf(dir.dir, port, f.server.httpPort, upstreamPort, f.server.org.apiKey));
    nginx = spawn(bin, ["-p", dir.dir, "-c", conf, "-e", join(dir.dir, "error.log")], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    nginx.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    nginx.once("exit", (code, signal) => {
      nginxExit = `nginx exited (${code ?? signal}): ${stderr}`;
    });
    proxyBase = `http://127.0.0.1:${port}`;
    // Ready when it answers; an nginx that exits (a bad config, the port taken) fails the test.
    for (let i = 0; ; i++) {
      if (nginxExit) throw new Error(nginxExit);
      const up = await fetch(`${proxyBase}/`, { signal: AbortSignal.timeout(1000) }).then(
        () => true,
        () => false,
      );
      if (up) break;
      if (i > 100) throw new Error(`nginx did not answer: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 300_000); // room for installing nginx on first use

  afterAll(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((r) => nginx?.once("exit", r));
      nginx.kill("SIGTERM");
      await exited;
    }
    await new Promise((r) => (upstream ? upstream.close(r) : r(undefined)));
    await f?.server.stop();
    dir?.cleanup();
  });

  const get = async (path: string, headers: Record<string, string> = {}, method = "GET") => {
    const res = await fetch(`${proxyBase}${path}`, { method, headers, signal: AbortSignal.timeout(10_000) });
    return { status: res.status, text: await res.text() };
  };
  const agent = () => ({ authorization: `Bearer ${f.tokenA}` });

  it("ALLOW: the agent's request reaches the upstream, with who and what Tessera decided", async () => {
    const r = await get("/todos/42?full=1", agent());
    expect(r).toEqual({
      status: 200,
      text: `upstream GET /todos/42?full=1 principal=${f.agentA} scope=todos:read`,
    });
  });

  it("DENY: 403, and the upstream never sees the request", async () => {
    const before = seen.length;
    expect((await get("/todos/42", agent(), "PUT")).status).toBe(403);
    expect((await get("/admin", agent())).status).toBe(403);
    expect(seen.length).toBe(before);
  });

  it("no token: 401; another org's token: 401", async () => {
    const before = seen.length;
    expect((await get("/todos")).status).toBe(401);
    expect((await get("/todos", { authorization: `Bearer ${f.tokenB}` })).status).toBe(401);
    expect(seen.length).toBe(before);
  });

  it("a client's own X-Forwarded-Uri cannot swap the request decided: refused (nginx answers 500)", async () => {
    const before = seen.length;
    const r = await get("/admin", { ...agent(), "x-forwarded-uri": "/todos" });
    expect(r.status).toBe(500);
    expect(seen.length).toBe(before);
  });

  it("nginx ran with this configuration (its log holds no emergency)", () => {
    expect(readFileSync(join(dir.dir, "error.log"), "utf8")).not.toMatch(/\[emerg\]/);
  });
});
