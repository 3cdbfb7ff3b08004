import { isDeepStrictEqual } from "node:util";
import type { DescService } from "@bufbuild/protobuf";
import type { GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import * as grpc from "@grpc/grpc-js";
import { freshAuthClient, grpcClient } from "./grpc-client.js";

type AuthClient = ReturnType<typeof freshAuthClient>;

/** Worker id → what that worker answered. */
export type PerWorker<T> = Record<number, T>;

/** One open client per worker of a cluster, each on a connection that worker accepted. */
export interface WorkerClients {
  /** The workers' ids (cluster.worker.id), ascending. */
  readonly ids: readonly number[];
  /** The client connected to worker `id`. */
  client(id: number): AuthClient;
  /**
   * A client of another service on worker `id`'s connection (the same channel, so the same
   * worker). Not to be closed: it goes with the rest on close().
   */
  on<M extends GenServiceMethods>(
    service: DescService & { method: { [K in keyof M]: M[K] } },
    id: number,
  ): ReturnType<typeof grpcClient<M>>;
  /**
   * Runs `f` on every worker's client at once. Each connection is asked afterwards which worker
   * it is on: a connection that moved (closed and reopened elsewhere) fails the call rather than
   * letting another worker's answer pass for this one's.
   */
  each<T>(f: (c: AuthClient, id: number) => Promise<T>): Promise<PerWorker<T>>;
  /** `value` for every worker: what `each` should give when every worker agrees. */
  all<T>(value: T): PerWorker<T>;
  close(): void;
}

export interface WorkerClientOptions {
  /** Makes a client on a connection of its own (default: freshAuthClient(port), plaintext). */
  readonly make?: () => AuthClient;
  /** Connections to open before giving up on reaching every worker. Default 200. */
  readonly maxConnections?: number;
}

async function workerOf(c: AuthClient): Promise<{ workerId: number; workers: number }> {
  const res = await c.call("getServerStatus", {});
  if (!res.ok) throw new Error(`GetServerStatus failed: ${res.error.code} ${res.error.reason}`);
  return { workerId: res.value.workerId, workers: res.value.workers };
}

/**
 * With `serve --workers N` the primary deals gRPC connections to the workers in turn, but which
 * worker a fresh connection reaches still depends on every connection opened before it (other
 * tests' included). This opens fresh
 * connections, a few at a time, and asks each which worker answered (GetServerStatus), until it
 * holds one connection to each of the `workers` workers; the rest are closed. It throws, naming
 * the workers it did reach, when `maxConnections` were not enough, so a test written with it
 * can never pass having asked only some of the workers.
 */
export async function clientsForEveryWorker(
  port: number,
  workers: number,
  opts: WorkerClientOptions = {},
): Promise<WorkerClients> {
  const make = opts.make ?? (() => freshAuthClient(port));
  const max = opts.maxConnections ?? 200;
  const kept = new Map<number, AuthClient>();
  let opened = 0;
  try {
    while (kept.size < workers && opened < max) {
      const batch = Array.from({ length: Math.min(4, max - opened) }, make);
      opened += batch.length;
      const found = await Promise.all(batch.map(workerOf));
      for (const [i, c] of batch.entries()) {
        const { workerId, workers: reported } = found[i] ?? { workerId: 0, workers: 0 };
        if (reported !== workers || workerId < 1)
          throw new Error(`the server reports ${reported} workers (this one ${workerId}), not ${workers}`);
        if (kept.has(workerId)) c.close();
        else kept.set(workerId, c);
      }
    }
  } catch (err) {
    for (const c of kept.values()) c.close();
    throw err;
  }
  if (kept.size < workers) {
    for (const c of kept.values()) c.close();
    throw new Error(
      `reached workers [${[...kept.keys()].sort()}] only, of ${workers}, in ${opened} fresh connections`,
    );
  }
  const ids = [...kept.keys()].sort((a, b) => a - b);
  const client = (id: number): AuthClient => {
    const c = kept.get(id);
    if (!c) throw new Error(`no client for worker ${id}`);
    return c;
  };
  return {
    ids,
    client,
    on: (service, id) =>
      grpcClient(service, "ignored:0", grpc.credentials.createInsecure(), {
        channelOverride: client(id).raw.getChannel(),
      }),
    async each<T>(f: (c: AuthClient, id: number) => Promise<T>): Promise<PerWorker<T>> {
      const results = await Promise.all(
        ids.map(async (id) => {
          const value = await f(client(id), id);
          const now = (await workerOf(client(id))).workerId;
          if (now !== id) throw new Error(`the connection to worker ${id} is now on worker ${now}`);
          return [id, value] as const;
        }),
      );
      return Object.fromEntries(results);
    },
    all: <T>(value: T): PerWorker<T> => Object.fromEntries(ids.map((id) => [id, value])),
    close() {
      for (const c of kept.values()) c.close();
    },
  };
}

/**
 * Asks `f` on every worker until every worker gives `expected` or `boundMs` passed (changes
 * reach other workers through the change log, asynchronously); returns the last answers, for
 * the test to assert on.
 */
export async function untilEveryWorker<T>(
  w: WorkerClients,
  f: (c: AuthClient, id: number) => Promise<T>,
  expected: T,
  boundMs = 2000,
): Promise<PerWorker<T>> {
  const start = Date.now();
  let seen = await w.each(f);
  while (!isDeepStrictEqual(seen, w.all(expected)) && Date.now() - start < boundMs) seen = await w.each(f);
  return seen;
}
