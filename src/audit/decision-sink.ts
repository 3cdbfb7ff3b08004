import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { DecisionRecord, DecisionRepository } from "../store/decisions.js";
import { encodeBatch } from "./decision-batch.js";

/** Where decision batches go. */
export interface DecisionSink {
  write(rows: readonly DecisionRecord[]): Promise<void>;
  close(): Promise<void>;
}

/** Writes on the calling thread (tests, and when the compiled writer thread is not available). */
export function directSink(repo: DecisionRepository): DecisionSink {
  return {
    write: async (rows) => repo.insert(rows),
    close: async () => {},
  };
}

/** Writes on a worker thread with its own connection: the event loop only posts the batch. */
export function threadSink(dataDir: string): DecisionSink | undefined {
  const url = new URL("./decision-writer-thread.js", import.meta.url);
  // Under a TypeScript test runner only the .ts source exists; the caller falls back.
  if (!existsSync(fileURLToPath(url))) return undefined;
  const worker = new Worker(url, { workerData: { dataDir } });
  worker.unref();
  const waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  let next = 0;
  worker.on("message", (m: { id: number; ok: boolean; error?: string }) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.ok) w?.resolve();
    else w?.reject(new Error(m.error ?? "decision log write failed"));
  });
  worker.on("error", (err) => {
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  });
  return {
    write: (rows) =>
      new Promise((resolve, reject) => {
        const id = ++next;
        waiting.set(id, { resolve, reject });
        worker.postMessage({ id, batch: encodeBatch(rows) });
      }),
    close: () =>
      new Promise((resolve) => {
        // Held while closing: an unreferenced thread would let the process end before it exits.
        worker.ref();
        worker.once("exit", () => resolve());
        worker.postMessage("close");
      }),
  };
}
