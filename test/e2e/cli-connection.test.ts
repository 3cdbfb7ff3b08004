import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDevCa } from "../../src/auth/dev-certs.js";
import { cliEnv, runTessera } from "../helpers/cli.js";
import { startTestServer, type TestServer, tempDir } from "../helpers/server.js";

/** A port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

// Run `npm run build` first. One CLI run per mistake, each a Node process of about a second.
describe("the CLI turns connection failures into what to change", { timeout: 60_000 }, () => {
  const home = tempDir("tessera-cli-connection-");
  let plain: TestServer;
  let mtls: TestServer;
  let ca: string;

  beforeAll(async () => {
    const dev = await createDevCa();
    const pair = await dev.issueServer();
    const files = { "ca.pem": dev.cert, "server.pem": pair.cert, "server-key.pem": pair.key };
    for (const [name, pem] of Object.entries(files)) writeFileSync(join(home.dir, name), pem);
    ca = join(home.dir, "ca.pem");
    [plain, mtls] = await Promise.all([
      startTestServer(),
      startTestServer({
        tlsCert: join(home.dir, "server.pem"),
        tlsKey: join(home.dir, "server-key.pem"),
        tlsClientCa: ca,
      }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([plain?.stop(), mtls?.stop()]);
    home.cleanup();
  });

  /** `agents list` against `server` with the plain server's credentials: the JSON error and exit code. */
  async function failure(server: string, ...extra: string[]) {
    const creds = ["--api-key", plain.org.apiKey, "--admin-token", plain.org.adminToken];
    const r = await runTessera(
      ["agents", "list", "--json", "--server", server, ...creds, ...extra],
      cliEnv(home.dir),
    );
    expect(r.stdout).toBe("");
    return { code: r.code, error: (JSON.parse(r.stderr) as { error: Record<string, string> }).error };
  }

  it("names the gRPC port when given the HTTP port", async () => {
    const f = await failure(`http://127.0.0.1:${plain.httpPort}`);
    expect(f).toMatchObject({ code: 2, error: { code: "Unavailable", reason: "NOT_GRPC_PORT" } });
    expect(f.error.message).toContain("TESSERA_GRPC_PORT");
  });

  it("says to use http:// when https:// meets a plaintext server", async () => {
    const f = await failure(`https://127.0.0.1:${plain.grpcPort}`, "--tls-ca", ca);
    expect(f).toMatchObject({ code: 2, error: { reason: "TLS_UNEXPECTED" } });
    expect(f.error.message).toContain(`http://127.0.0.1:${plain.grpcPort}`);
  });

  it("says to use https:// when http:// meets a TLS server", async () => {
    const f = await failure(`http://127.0.0.1:${mtls.grpcPort}`);
    expect(f).toMatchObject({ code: 2, error: { reason: "TLS_REQUIRED" } });
    expect(f.error.message).toContain(`https://127.0.0.1:${mtls.grpcPort}`);
  });

  it("asks for the CA, then for a client certificate, from an mTLS server", async () => {
    const untrusted = await failure(`https://localhost:${mtls.grpcPort}`);
    expect(untrusted).toMatchObject({ code: 2, error: { reason: "TLS_UNTRUSTED" } });
    expect(untrusted.error.message).toContain("--tls-ca");
    const noCert = await failure(`https://localhost:${mtls.grpcPort}`, "--tls-ca", ca);
    expect(noCert).toMatchObject({ code: 2, error: { reason: "CLIENT_CERT_REQUIRED" } });
    expect(noCert.error.message).toContain("--client-cert");
  });

  it("asks whether the server runs when nothing listens (exit 1: nothing to change in the command)", async () => {
    const f = await failure(`http://127.0.0.1:${await freePort()}`);
    expect(f).toMatchObject({ code: 1, error: { code: "Unavailable", reason: "CONNECTION_REFUSED" } });
  });
});
