import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, type ServeProcess, spawnServe } from "../helpers/cli.js";
import { freshAuthClient } from "../helpers/grpc-client.js";
import { tempDir } from "../helpers/server.js";

/**
 * With --workers the primary deals gRPC connections to the workers (connection-dispatch.ts):
 * each worker still holds at most --max-connections of them, as it did when it accepted them
 * itself, so one client opening connections without end cannot take every socket of a worker.
 */
describe("serve --workers 2 --max-connections 1", () => {
  const data = tempDir();
  let serve: ServeProcess;
  let port = 0;
  const clients: ReturnType<typeof freshAuthClient>[] = [];

  beforeAll(async () => {
    serve = spawnServe(
      [
        ...["--data-dir", data.dir, "--grpc-port", "0", "--http-port", "0"],
        ...["--workers", "2", "--max-connections", "1"],
      ],
      cliEnv(data.dir),
    );
    port = (await serve.ready).grpcPort;
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    expect(await serve.stop()).toBe(0);
    data.cleanup();
  });

  async function workerOn(c: ReturnType<typeof freshAuthClient>): Promise<number | string> {
    const res = await c.call("getServerStatus", {});
    return res.ok ? res.value.workerId : grpc.status[res.error.code];
  }

  it("serves one connection per worker and closes a third, while the first two keep answering", async () => {
    const first = freshAuthClient(port);
    const second = freshAuthClient(port);
    clients.push(first, second);
    const a = await workerOn(first);
    const b = await workerOn(second);
    expect(typeof a).toBe("number");
    expect(typeof b).toBe("number");
    expect(a).not.toBe(b);
    const third = freshAuthClient(port);
    clients.push(third);
    expect(await workerOn(third)).toBe("UNAVAILABLE");
    expect([await workerOn(first), await workerOn(second)]).toEqual([a, b]);
  });
});
