import type { PgDecisionRepository } from "../store/postgres/decisions.js";
import type { DecisionSink } from "./decision-sink.js";

/**
 * Writes to PostgreSQL on the event loop: the pg client is asynchronous, so the write costs
 * this thread only the encoding, and no writer thread is needed. write() settles when the
 * batch's transaction has committed (or was a repeat of a stored batch id), and rejects when it
 * did not, so the DecisionLog retries it and, failing that, spills it: nothing is dropped here.
 * close() leaves the pool to its owner (the store).
 */
export function pgDecisionSink(repo: PgDecisionRepository): DecisionSink {
  let closed = false;
  return {
    write: async (batch) => {
      if (closed) throw new Error("the decision sink is closed");
      await repo.write(batch);
    },
    close: async () => {
      closed = true;
    },
  };
}
