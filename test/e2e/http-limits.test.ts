import type { AddressInfo } from "node:net";
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHttpServer } from "../../src/transport/http-server.js";
import { DEFAULT_LIMITS } from "../../src/transport/limits.js";

/** Resolves with the milliseconds until the server closes the socket (or rejects after `maxMs`). */
function closedAfter(socket: Socket, maxMs: number): Promise<number> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${maxMs} ms`)), maxMs);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Date.now() - start);
    });
    socket.on("error", () => {});
    // Read what the server says (a 408): a paused socket never sees the close that follows.
    socket.resume();
  });
}

/**
 * Issue #11: a client that sends its headers or body slowly, or never finishes, is cut off
 * after a bound instead of holding a connection for minutes (87 s and 327 s before).
 */
describe("HTTP port: header and body timeouts", () => {
  const server = createHttpServer({
    bindings: [],
    maxMessageBytes: 65_536,
    jwks: () => ({ keys: [] }),
    healthy: () => true,
    limits: { ...DEFAULT_LIMITS, headersTimeoutMs: 500, requestTimeoutMs: 1_000 },
  });
  let port = 0;
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const open = (): Promise<Socket> =>
    new Promise((resolve) => {
      const s = connect(port, "127.0.0.1", () => resolve(s));
    });

  it("closes a connection whose headers never finish", async () => {
    const s = await open();
    s.write("POST /tessera.v1.AuthService/WhoAmI HTTP/1.1\r\nHost: x\r\n");
    expect(await closedAfter(s, 8_000)).toBeLessThan(8_000);
  });

  it("closes a connection whose body never finishes", async () => {
    const s = await open();
    s.write(
      "POST /tessera.v1.AuthService/WhoAmI HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
    );
    expect(await closedAfter(s, 8_000)).toBeLessThan(8_000);
  });

  it("still answers a request that arrives whole", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5_000) });
    expect(res.status).toBe(200);
  });
});
