import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer, tempDir } from "../helpers/server.js";

/*
 * Issue #13, browsers and CORS, in a real browser: a page on one origin calls Tessera on another
 * with fetch, the way Connect-Web and an AuthZEN client do, and the browser itself enforces CORS
 * (preflights, the allow and expose headers). Headless Chromium, driven without any library: the
 * page posts what it saw back to the server that served it. Skipped where no Chromium is
 * installed (`apt-get install chromium`, or TESSERA_TEST_CHROMIUM=/path/to/chrome).
 */

function findChromium(): string | undefined {
  const named = process.env.TESSERA_TEST_CHROMIUM;
  if (named) return named;
  for (const name of ["chromium", "chromium-browser", "google-chrome"]) {
    try {
      return execFileSync("which", [name], { encoding: "utf8" }).trim() || undefined;
    } catch {
      // not this one
    }
  }
  return undefined;
}

const CHROMIUM = findChromium();

/** What the page reports of each call: the answer it could read, or the error fetch threw. */
type Seen = Record<string, { status?: number; header?: string | null; body?: unknown; error?: string }>;

/** The page's script: each call, what the browser let it read, then a report to its own origin. */
function pageScript(tessera: string, apiKey: string): string {
  return `
const base = ${JSON.stringify(tessera)};
const calls = {
  connectJson: () => fetch(base + "/tessera.v1.AuthService/GetJwks", {
    method: "POST",
    headers: { "content-type": "application/json", "connect-protocol-version": "1", "connect-timeout-ms": "10000" },
    body: "{}",
  }).then(async (r) => ({ status: r.status, body: (await r.json()).keys.length })),
  connectRefusal: () => fetch(base + "/tessera.v1.AuthService/WhoAmI", {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": "not-a-key" },
    body: "{}",
  }).then((r) => ({ status: r.status, header: r.headers.get("tessera-reason") })),
  // gRPC-Web, framed by hand: an empty WhoAmI request; the refusal comes as a trailer frame.
  grpcWeb: () => fetch(base + "/tessera.v1.AuthService/WhoAmI", {
    method: "POST",
    headers: {
      "content-type": "application/grpc-web+proto", "x-grpc-web": "1", "x-user-agent": "grpc-web-javascript/0.1",
      "grpc-timeout": "10S", "x-api-key": "not-a-key",
    },
    body: new Uint8Array(5),
  }).then(async (r) => {
    const text = new TextDecoder("latin1").decode(await r.arrayBuffer());
    const trailer = (name) => (new RegExp(name + ": ?([A-Za-z0-9_]+)").exec(text) || [])[1] || null;
    return { status: r.status, header: trailer("grpc-status"), body: trailer("tessera-reason") };
  }),
  authzen: () => fetch(base + "/access/v1/evaluation", {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": ${JSON.stringify(apiKey)}, "x-request-id": "browser-1" },
    body: JSON.stringify({ subject: { type: "agent", id: "nobody" }, action: { name: "read" }, resource: { type: "doc", id: "1" } }),
  }).then(async (r) => ({ status: r.status, header: r.headers.get("x-request-id"), body: (await r.json()).decision })),
};
(async () => {
  const seen = {};
  for (const [name, call] of Object.entries(calls)) {
    try { seen[name] = await call(); } catch (e) { seen[name] = { error: String(e) }; }
  }
  await fetch("/report", { method: "POST", body: JSON.stringify(seen) });
})();
`;
}

/** A server for one page origin: serves the page and takes its report. */
class PageOrigin {
  readonly server: http.Server;
  private report?: (seen: Seen) => void;
  script = "";

  constructor() {
    this.server = http.createServer((req, res) => {
      if (req.method === "POST" && req.url === "/report") {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          res.end();
          this.report?.(JSON.parse(Buffer.concat(chunks).toString()) as Seen);
        });
        return;
      }
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<!doctype html><title>cors</title><script>${this.script}</script>`);
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", () => resolve()));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Opens the page in headless Chromium and resolves with its report. */
  async visit(url: string): Promise<Seen> {
    const profile = tempDir("tessera-chromium-");
    const reported = new Promise<Seen>((resolve) => {
      this.report = resolve;
    });
    const browser: ChildProcess = spawn(
      CHROMIUM ?? "chromium",
      [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        `--user-data-dir=${profile.dir}`,
        url,
      ],
      { stdio: "ignore" },
    );
    const exited = new Promise<void>((resolve) => browser.once("exit", () => resolve()));
    try {
      return await Promise.race([
        reported,
        exited.then(() => {
          throw new Error("chromium exited before the page reported");
        }),
      ]);
    } finally {
      browser.kill();
      await exited;
      profile.cleanup();
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe.skipIf(!CHROMIUM)("CORS in a real browser (headless Chromium)", () => {
  let tessera: TestServer;
  const allowed = new PageOrigin();
  const other = new PageOrigin();
  let allowedUrl = "";
  let otherUrl = "";

  beforeAll(async () => {
    allowedUrl = await allowed.listen();
    otherUrl = await other.listen();
    tessera = await startTestServer({ corsOrigins: allowedUrl });
    const base = `http://127.0.0.1:${tessera.httpPort}`;
    allowed.script = pageScript(base, tessera.org.apiKey);
    other.script = pageScript(base, tessera.org.apiKey);
  }, 60_000);
  afterAll(async () => {
    await tessera?.stop();
    await allowed.close();
    await other.close();
  });

  it("lets a page on an allowed origin call Connect and AuthZEN and read answers and reasons", async () => {
    const seen = await allowed.visit(allowedUrl);
    expect(seen.connectJson).toEqual({ status: 200, body: expect.any(Number) });
    expect(seen.connectJson?.body).toBeGreaterThan(0);
    // A refusal's reason is readable: tessera-reason is exposed.
    expect(seen.connectRefusal).toEqual({ status: 401, header: "API_KEY_MALFORMED" });
    // gRPC-Web's headers pass the preflight; UNAUTHENTICATED (16) comes back in its trailers.
    expect(seen.grpcWeb).toEqual({ status: 200, header: "16", body: "API_KEY_MALFORMED" });
    expect(seen.authzen).toEqual({ status: 200, header: "browser-1", body: false });
  }, 90_000);

  it("blocks every call from a page on another origin", async () => {
    const seen = await other.visit(otherUrl);
    for (const name of ["connectJson", "connectRefusal", "grpcWeb", "authzen"]) {
      expect(seen[name]?.error, name).toMatch(/TypeError/);
      expect(seen[name]?.status, name).toBeUndefined();
    }
  }, 90_000);
});
