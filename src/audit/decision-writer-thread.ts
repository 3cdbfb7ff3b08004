/**
 * The decision log's writer thread: owns its own SQLite connection and inserts the batches the
 * server's event loop posts, so a slow disk or another process holding the write lock never
 * stalls request handling.
 */
import { parentPort, workerData } from "node:worker_threads";
import { openLogConnection } from "../store/db.js";
import { DecisionRepository } from "../store/decisions.js";
import { decodeBatch, type EncodedBatch } from "./decision-batch.js";

interface Batch {
  readonly id: number;
  readonly batch: EncodedBatch;
}

const data = workerData as {
  dataDir: string;
  maxSegmentBytes?: number | undefined;
  fsyncEachCommit?: boolean | undefined;
};
const db = openLogConnection(data.dataDir, { fsyncEachCommit: data.fsyncEachCommit });
const repo = new DecisionRepository(db, { maxSegmentBytes: data.maxSegmentBytes });

parentPort?.on("message", (batch: Batch | "close") => {
  if (batch === "close") {
    db.close();
    parentPort?.close();
    return;
  }
  try {
    repo.write(decodeBatch(batch.batch));
    parentPort?.postMessage({ id: batch.id, ok: true });
  } catch (err) {
    parentPort?.postMessage({ id: batch.id, ok: false, error: (err as Error).message });
  }
});
