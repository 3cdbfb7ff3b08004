import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { type ErrorReason, TesseraError } from "../domain/errors.js";
import { type CheckJob, runCheck, type Validated } from "../engine/check.js";
import type { TestReport } from "../engine/policy-test.js";

/** What the thread posts: once loaded, `ready`; then for job `id` the result, a refusal to pass on, or a defect. */
export type CheckReply =
  | { readonly ready: true }
  | { readonly id: number; readonly ok: true; readonly result: Validated | TestReport }
  | {
      readonly id: number;
      readonly ok: false;
      readonly refusal?: { reason: ErrorReason; message: string; details: Record<string, string> };
      readonly failure?: string;
    };

export interface PolicyCheckerOptions {
  /** Wall-clock time one check may run before its thread is terminated. Default 5 s. */
  readonly deadlineMs?: number | undefined;
  /** Checks that may wait behind the running one; more are refused (POLICY_CHECKS_BUSY). Default 16. */
  readonly maxWaiting?: number | undefined;
  /** The thread's entry; default the compiled policy-check-thread.js beside this module. */
  readonly threadUrl?: URL | undefined;
  /**
   * How long the thread may sit idle before it is stopped (the next check starts a new one, about
   * a second cold). Default 30 s: a thread that has checked 10,000 rules holds 30–50 MiB of heap.
   */
  readonly idleMs?: number | undefined;
}

interface Pending {
  readonly id: number;
  readonly job: CheckJob;
  resolve(result: Validated | TestReport): void;
  reject(err: Error): void;
}

/**
 * The thread's heap: a check allocates at most the CEL budget per evaluation plus the parsed
 * documents, so this bounds a pathological one (terminated, POLICY_TOO_COMPLEX) well before
 * it could weigh on the process.
 */
const RESOURCE_LIMITS = { maxOldGenerationSizeMb: 128, maxYoungGenerationSizeMb: 16 };

const tooComplex = (job: CheckJob, why: string) =>
  new TesseraError("POLICY_TOO_COMPLEX", `${job.file}: checking the policy ${why}`, { file: job.file });

/**
 * Runs policy checks (parse, compile, condition limits, PolicyTest suites) on one worker
 * thread, one at a time, each under a wall-clock deadline: a check that takes too long or too
 * much memory has its thread terminated and is answered POLICY_TOO_COMPLEX, while the event
 * loop keeps serving every other call. Under a TypeScript test runner only the .ts sources
 * exist, so checks run inline there (still under the CEL budgets, without the deadline).
 */
export class PolicyChecker {
  private readonly deadlineMs: number;
  private readonly maxWaiting: number;
  private readonly threadUrl: URL | undefined;
  private readonly idleMs: number;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly queue: Pending[] = [];
  private worker: Worker | undefined;
  /** The thread has loaded its modules (about a second, cold): deadlines start only then. */
  private ready = false;
  private running: { pending: Pending; timer: NodeJS.Timeout } | undefined;
  private nextId = 0;

  constructor(opts: PolicyCheckerOptions = {}) {
    this.deadlineMs = opts.deadlineMs ?? 5_000;
    this.maxWaiting = opts.maxWaiting ?? 16;
    this.idleMs = opts.idleMs ?? 30_000;
    const url = opts.threadUrl ?? new URL("./policy-check-thread.js", import.meta.url);
    this.threadUrl = existsSync(fileURLToPath(url)) ? url : undefined;
  }

  /** Whether checks run on a thread (false: inline, under a test runner). */
  get threaded(): boolean {
    return this.threadUrl !== undefined;
  }

  /** Whether a thread is up now (started by a check, stopped after idleMs without one). */
  get threadUp(): boolean {
    return this.worker !== undefined;
  }

  /** Runs a check; rejects with its TesseraError (POLICY_INVALID, POLICY_TOO_COMPLEX, …). */
  run(job: CheckJob): Promise<Validated | TestReport> {
    if (!this.threadUrl) return new Promise((resolve) => resolve(runCheck(job)));
    // The first check in the queue runs as soon as the thread is free (or has started).
    if (this.queue.length >= this.maxWaiting + (this.running ? 0 : 1))
      return Promise.reject(
        new TesseraError("POLICY_CHECKS_BUSY", "too many policy checks are waiting; retry later"),
      );
    return new Promise((resolve, reject) => {
      this.queue.push({ id: ++this.nextId, job, resolve, reject });
      this.pump();
    });
  }

  /** Stops the thread; checks still waiting are refused. */
  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    for (const p of this.queue.splice(0)) p.reject(new TesseraError("POLICY_CHECKS_BUSY", "shutting down"));
    await this.worker?.terminate();
    this.worker = undefined;
  }

  private pump(): void {
    if (this.running) return;
    if (this.queue.length === 0) {
      this.stopWhenIdle();
      return;
    }
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const worker = this.thread();
    if (!this.ready) return; // pumped again when the thread says it is ready
    const pending = this.queue.shift() as Pending;
    const timer = setTimeout(
      () => this.fail(tooComplex(pending.job, `took longer than ${this.deadlineMs} ms`)),
      this.deadlineMs,
    );
    this.running = { pending, timer };
    worker.postMessage({ id: pending.id, job: pending.job });
  }

  /**
   * With nothing running or waiting, stops the thread after idleMs: its isolate keeps the heap
   * of the last check (30–50 MiB after 10,000 rules) and its own allocator arena until then.
   */
  private stopWhenIdle(): void {
    if (!this.worker || this.idleTimer) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      const worker = this.worker;
      if (!worker || this.running || this.queue.length > 0) return;
      this.worker = undefined; // its exit is then no failure
      this.ready = false;
      void worker.terminate();
    }, this.idleMs);
    this.idleTimer.unref();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.threadUrl as URL, { resourceLimits: RESOURCE_LIMITS });
    worker.unref();
    this.ready = false;
    worker.on("message", (reply: CheckReply) => {
      if ("ready" in reply) {
        this.ready = true;
        this.pump();
      } else this.settle(reply);
    });
    worker.on("error", (err: Error & { code?: string }) => {
      const job = this.running?.pending.job;
      const oom = err.code === "ERR_WORKER_OUT_OF_MEMORY" && job !== undefined;
      this.fail(oom ? tooComplex(job, "ran out of memory") : err, worker);
    });
    worker.on("exit", () => {
      if (this.worker === worker) this.fail(new Error("policy check thread exited"), worker);
    });
    this.worker = worker;
    return worker;
  }

  private settle(reply: Exclude<CheckReply, { ready: true }>): void {
    const run = this.running;
    if (!run || run.pending.id !== reply.id) return;
    clearTimeout(run.timer);
    this.running = undefined;
    if (reply.ok) run.pending.resolve(reply.result);
    else if (reply.refusal)
      run.pending.reject(
        new TesseraError(reply.refusal.reason, reply.refusal.message, reply.refusal.details),
      );
    else run.pending.reject(new Error(`policy check failed: ${reply.failure}`));
    this.pump();
  }

  /**
   * Fails the running check and discards its thread (a new one starts for the next check). A
   * thread that dies before it is ready fails every waiting check instead: starting another
   * would most likely die the same way.
   */
  private fail(err: Error, worker = this.worker): void {
    if (worker && worker === this.worker) {
      this.worker = undefined;
      void worker.terminate();
    }
    const run = this.running;
    this.running = undefined;
    if (run) {
      clearTimeout(run.timer);
      run.pending.reject(err);
    } else if (!this.ready) for (const p of this.queue.splice(0)) p.reject(err);
    this.pump();
  }
}
