import type { Worker } from "node:cluster";
import * as net from "node:net";

/**
 * The gRPC port with `--workers`: the primary accepts each connection and hands it to the next
 * worker in turn. Why not the cluster module's sharing:
 * - Workers accepting from one shared socket (SCHED_NONE) is left to the kernel, which wakes
 *   whichever worker waits: four connections opened together landed 4/0 or 3/1 in one try in
 *   three (2026-11-30). gRPC clients hold a few long-lived HTTP/2 connections, so one worker
 *   got all the calls while the other idled, and the tail grew.
 * - The cluster module's round robin holds each connection until the worker says it took it: a
 *   worker that dies in between never says so, and that client hangs until its own deadline.
 * Here the primary keeps its copy of a connection until the worker says it took it. A worker
 * that dies first (a connection can reach it in the moment between its death and the primary
 * hearing of it) never read a byte of it, so the connection goes to the next worker instead,
 * and its client never knows. The connections a dead worker had taken are closed with it, and
 * their clients reconnect to the living. (Node's own `keepOpen: false` hand-off was tried
 * first: a connection sent to a worker killed a moment later stayed open in the primary, unread.)
 */
const HANDED = "tessera:grpc-connection";
const TAKEN = "tessera:grpc-connection-taken";

/** Connections accepted while no worker is ready yet are held, up to this many. */
const MAX_HELD = 1024;

export interface ConnectionDispatcher {
  readonly port: number;
  /** A worker that listens: it takes its turn from now on. */
  add(worker: Worker): void;
  /** A worker gone: it gets no more connections, and those it had not taken go to the others. */
  remove(worker: Worker): void;
  /** Stops accepting; connections held for a worker are closed. */
  close(): void;
}

/** On the primary: listens on `host:port` and deals each connection to the workers in turn. */
export async function dispatchConnections(host: string, port: number): Promise<ConnectionDispatcher> {
  const ready: Worker[] = [];
  const held: net.Socket[] = [];
  /** Per worker, the connections handed to it and not yet taken, by id. */
  const handed = new Map<Worker, Map<number, net.Socket>>();
  let next = 0;
  let ids = 0;
  let closing = false;
  const deal = (socket: net.Socket): void => {
    // A client that gave up while its connection was held: nothing to hand over, nor to track.
    if (socket.destroyed) return;
    if (closing || (ready.length === 0 && held.length >= MAX_HELD)) return void socket.destroy();
    if (ready.length > 0) {
      send(socket);
      return;
    }
    held.push(socket);
    socket.once("close", () => {
      const i = held.indexOf(socket);
      if (i >= 0) held.splice(i, 1);
    });
  };
  const send = (socket: net.Socket): void => {
    const worker = ready[next++ % ready.length] as Worker;
    const pending = handed.get(worker);
    if (!pending || !worker.isConnected()) {
      drop(worker);
      deal(socket);
      return;
    }
    const id = ids++;
    pending.set(id, socket);
    worker.send({ type: HANDED, id }, socket, { keepOpen: true }, (err) => {
      // Not sent (the channel closed under it): the connection goes elsewhere, if still here.
      if (err && pending.delete(id)) deal(socket);
    });
  };
  const drop = (worker: Worker): void => {
    const i = ready.indexOf(worker);
    if (i >= 0) ready.splice(i, 1);
    const pending = handed.get(worker);
    handed.delete(worker);
    const untaken = [...(pending?.values() ?? [])];
    pending?.clear();
    for (const socket of untaken) deal(socket);
  };
  // Paused: the primary never reads a byte, so a connection can go to another worker whole.
  const server = net.createServer({ pauseOnConnect: true, noDelay: true }, deal);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  // A failed accept (too many open files) must not end the primary.
  server.on("error", () => {});
  return {
    port: (server.address() as net.AddressInfo).port,
    add(worker) {
      if (handed.has(worker) || !worker.isConnected()) return;
      const pending = new Map<number, net.Socket>();
      handed.set(worker, pending);
      ready.push(worker);
      // The worker has its own copy now: the primary's is closed (the connection stays open).
      worker.on("message", (m: { type?: string; id?: number } | null) => {
        if (m?.type !== TAKEN || m.id === undefined) return;
        pending.get(m.id)?.destroy();
        pending.delete(m.id);
      });
      worker.once("disconnect", () => drop(worker));
      for (const socket of held.splice(0)) deal(socket);
    },
    remove: drop,
    close() {
      closing = true;
      server.close();
      for (const socket of held.splice(0)) socket.destroy();
    },
  };
}

/**
 * In a worker: every connection the primary hands over goes to `serve`. Returns the function
 * that stops taking them (connections still arriving are closed).
 */
export function takeConnections(serve: (socket: net.Socket) => void): () => void {
  let taking = true;
  const onMessage = (message: unknown, socket: unknown): void => {
    const m = message as { type?: string; id?: number } | null;
    if (m?.type !== HANDED || !(socket instanceof net.Socket)) return;
    if (taking) serve(socket);
    else socket.destroy();
    // Either way the primary may close its copy now.
    if (process.connected) process.send?.({ type: TAKEN, id: m.id });
  };
  process.on("message", onMessage);
  return () => {
    taking = false;
  };
}
