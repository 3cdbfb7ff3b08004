import * as http2 from "node:http2";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshAuthClient } from "../helpers/grpc-client.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/** An HTTP/2 connection to the gRPC port, once the server's SETTINGS arrived. */
function session(port: number): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.once("remoteSettings", () => resolve(s));
    s.once("error", reject);
  });
}

/** Resolves with the peer's max concurrent streams once it equals `want` (it may take a SETTINGS frame or two). */
function streamsBecome(s: http2.ClientHttp2Session, want: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`still ${s.remoteSettings.maxConcurrentStreams}, wanted ${want}`)),
      5_000,
    );
    const check = () => {
      if (s.remoteSettings.maxConcurrentStreams !== want) return;
      clearTimeout(timer);
      s.off("remoteSettings", check);
      resolve(want);
    };
    s.on("remoteSettings", check);
    check();
  });
}

const close = (s: http2.ClientHttp2Session) => new Promise<void>((resolve) => s.close(() => resolve()));

/**
 * Issue #11: 200 connections × 100 streams put 20,000 calls in one worker's event loop (health
 * checks waited seconds, workers grew past 500 MiB). A worker shares a budget of streams among
 * its connections by telling each its share, so a crowd queues on the clients' side; and it
 * accepts a bounded number of connections on the gRPC port, as on the HTTP port.
 */
describe("gRPC port: a worker's stream budget and connection cap", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ maxStreams: 64, maxConnections: 4 });
  });
  afterAll(() => server.stop());

  it("tells each connection its share of the budget, and gives it back when others leave", async () => {
    const a = await session(server.grpcPort);
    expect(await streamsBecome(a, 64)).toBe(64);
    const b = await session(server.grpcPort);
    const c = await session(server.grpcPort);
    // 64 / 3 = 21, rounded down to a power of two: every connection, the first one included.
    expect(b.remoteSettings.maxConcurrentStreams).toBe(16);
    expect(await streamsBecome(a, 16)).toBe(16);
    expect(await streamsBecome(c, 16)).toBe(16);
    await close(b);
    await close(c);
    expect(await streamsBecome(a, 64)).toBe(64);
    await close(a);
  });

  it("a gRPC client with more calls than its share queues them on its side: every call is answered", async () => {
    const others = await Promise.all([1, 2].map(() => session(server.grpcPort)));
    const client = freshAuthClient(server.grpcPort);
    const headers = { "x-api-key": server.org.apiKey };
    const answers = await Promise.all(
      Array.from({ length: 200 }, () =>
        client.call("authenticate", { credential: { case: "apiKey", value: server.org.apiKey } }, headers),
      ),
    );
    expect(answers.filter((a) => !a.ok).map((a) => (a.ok ? "" : a.error.reason))).toEqual([]);
    client.close();
    await Promise.all(others.map(close));
  });

  it("closes connections beyond the cap at once, and accepts again once one leaves", async () => {
    const open = await Promise.all([1, 2, 3, 4].map(() => session(server.grpcPort)));
    const refused = await new Promise<string>((resolve) => {
      const s = connect(server.grpcPort, "127.0.0.1");
      s.on("close", () => resolve("closed"));
      s.on("error", () => {});
      setTimeout(() => resolve("still open"), 3_000);
    });
    expect(refused).toBe("closed");
    await close(open[0] as http2.ClientHttp2Session);
    // The server notices the close a moment later.
    await new Promise((r) => setTimeout(r, 100));
    const again = await session(server.grpcPort);
    expect(again.remoteSettings.maxConcurrentStreams).toBeGreaterThan(0);
    await Promise.all([again, ...open.slice(1)].map(close));
  });
});
