import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { DecisionBatch, DecisionRepository } from "../store/decisions.js";
import { encodeBatch } from "./decision-batch.js";
import { within } from "./within.js";

/** Where decision batches go. */
export interface DecisionSink {
  /** Stores the batch, all or nothing; storing a batch id a second time is a no-op. */
  write(batch: DecisionBatch): Promise<void>;
  close(): Promise<void>;
}

/** Writes on the calling thread (tests, and when the compiled writer thread is not available). */
export function directSink(repo: DecisionRepository): DecisionSink {
  return {
    write: async (batch) => {
      repo.write(batch);
    },
    close: async () => {},
  };
}

export interface ThreadSinkOptions {
  /** Passed to the thread's DecisionRepository. */
  readonly maxSegmentBytes?: number | undefined;
  /** Each commit fsync'd (`synchronous = FULL`): the sync durability. Default false (NORMAL). */
  readonly fsyncEachCommit?: boolean | undefined;
  /** How long close() lets the thread finish before terminating it. Default 2 s. */
  readonly closeTimeoutMs?: number | undefined;
}

interface Waiting {
  resolve: () => void;
  reject: (e: Error) => void;
}

/**
 * The writer thread's young generation: each batch is garbage once stored, so a small one is
 * enough. Left to V8 it grows to 32 MiB under load (two 16 MiB semi-spaces, all of it resident)
 * for a thread whose live heap is 5 MiB.
 */
const WRITER_LIMITS = { maxYoungGenerationSizeMb: 6 };

/**
 * Writes on a worker thread with its own connection: the event loop only posts the batch. A
 * thread that dies fails its pending writes and is started again on the next write, so a
 * crash never leaves writes waiting for an answer that cannot come.
 */
export function threadSink(dataDir: string, opts: ThreadSinkOptions = {}): DecisionSink | undefined {
  const url = new URL("./decision-writer-thread.js", import.meta.url);
  // Under a TypeScript test runner only the .ts source exists; the caller falls back.
  if (!existsSync(fileURLToPath(url))) return undefined;
  const waiting = new Map<number, Waiting>();
  const failAll = (err: Error) => {
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  const start = (): Worker => {
    const w = new Worker(url, {
      workerData: { dataDir, maxSegmentBytes: opts.maxSegmentBytes, fsyncEachCommit: opts.fsyncEachCommit },
      resourceLimits: WRITER_LIMITS,
    });
    w.unref();
    w.on("message", (m: { id: number; ok: boolean; error?: string }) => {
      const entry = waiting.get(m.id);
      waiting.delete(m.id);
      if (m.ok) entry?.resolve();
      else entry?.reject(new Error(m.error ?? "decision log write failed"));
    });
    w.on("error", failAll);
    w.on("exit", () => {
      if (worker === w) worker = undefined;
      failAll(new Error("the decision writer thread exited"));
    });
    return w;
  };
  let worker: Worker | undefined = start();
  let next = 0;
  let closed = false;
  return {
    write: (batch) =>
      new Promise((resolve, reject) => {
        if (closed) return reject(new Error("the decision sink is closed"));
        worker ??= start();
        const id = ++next;
        waiting.set(id, { resolve, reject });
        worker.postMessage({ id, batch: encodeBatch(batch) });
      }),
    close: async () => {
      closed = true;
      const w = worker;
      worker = undefined;
      if (!w) return;
      const exited = new Promise<void>((resolve) => w.once("exit", () => resolve()));
      // Until it exits, the thread (unref'd while serving) keeps the process alive: its last writes land.
      w.ref();
      w.postMessage("close");
      await within(exited, opts.closeTimeoutMs ?? 2000, "the decision writer thread").catch(() =>
        w.terminate(),
      );
    },
  };
}
