import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import { createDevCa } from "../../src/auth/dev-certs.js";
import { startTestServer, tempDir } from "../helpers/server.js";

describe("shutdown with TLS on the HTTP port", () => {
  it("drains even while an HTTP/2 client stays connected", async () => {
    const certs = tempDir();
    const ca = await createDevCa();
    const server = await ca.issueServer();
    const paths = {
      ca: join(certs.dir, "ca.pem"),
      cert: join(certs.dir, "server.pem"),
      key: join(certs.dir, "server-key.pem"),
    };
    writeFileSync(paths.ca, ca.cert);
    writeFileSync(paths.cert, server.cert);
    writeFileSync(paths.key, server.key);
    const tessera = await startTestServer({ tlsCert: paths.cert, tlsKey: paths.key });
    try {
      const transport = createConnectTransport({
        baseUrl: `https://localhost:${tessera.httpPort}`,
        httpVersion: "2",
        nodeOptions: { ca: ca.cert },
      });
      const jwks = await createClient(AuthService, transport).getJwks({});
      expect(jwks.keys.length).toBeGreaterThan(0);
      // The client keeps its HTTP/2 session open; stop() must still finish promptly.
      const stopped = tessera.stop().then(() => "stopped");
      const timeout = new Promise((resolve) => setTimeout(() => resolve("hung"), 4000));
      expect(await Promise.race([stopped, timeout])).toBe("stopped");
    } finally {
      certs.cleanup();
    }
  });
});
