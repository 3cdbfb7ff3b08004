/**
 * The policy checker's worker thread: parses, compiles and tests candidate policies (the CPU-
 * and memory-hungry part of ValidatePolicy, PutPolicy and TestPolicy) away from the server's
 * event loop. The parent terminates it when a check runs past its deadline.
 */
import { parentPort } from "node:worker_threads";
import { TesseraError } from "../domain/errors.js";
import { type CheckJob, runCheck } from "../engine/check.js";
import type { CheckReply } from "./policy-checker.js";

parentPort?.on("message", ({ id, job }: { id: number; job: CheckJob }) => {
  let reply: CheckReply;
  try {
    reply = { id, ok: true, result: runCheck(job) };
  } catch (err) {
    reply =
      err instanceof TesseraError
        ? {
            id,
            ok: false,
            refusal: { reason: err.reason, message: err.message, details: { ...err.details } },
          }
        : { id, ok: false, failure: (err as Error).message ?? String(err) };
  }
  parentPort?.postMessage(reply);
});

// Loaded: the parent starts a check's deadline from here, not from the thread's start.
parentPort?.postMessage({ ready: true } satisfies CheckReply);
