import type { CallContext } from "../core/context.js";
import { TesseraError } from "../domain/errors.js";
import type { ServiceBinding } from "./handlers.js";

export interface AdmissionOptions {
  /** Calls this worker may have waiting on I/O or another thread at once; beyond, OVERLOADED. */
  readonly maxInFlight: number;
  /** Event-loop lag (ms) above which new calls are refused until it falls to half of it. */
  readonly maxLagMs: number;
  /** How often the lag is sampled. Default 20 ms. */
  readonly sampleMs?: number;
  /** Told when shedding starts and stops (readiness: NOT_SERVING while it sheds). */
  readonly onShedding?: ((shedding: boolean) => void) | undefined;
  /** Milliseconds since the epoch; injected by tests. */
  readonly now?: () => number;
}

/** Samples in a row above the lag bound that make it overload rather than a pause. */
const SUSTAINED_SAMPLES = 3;

/** Seconds a refused caller is told to wait (RetryInfo, Retry-After). */
const RETRY_AFTER_SECONDS = "1";

/**
 * Per-worker admission: a bound on calls in flight and a watch on the event loop. When the loop
 * lags (work arrives faster than it is done) new calls are refused at once with
 * RESOURCE_EXHAUSTED `OVERLOADED` and a retry hint, instead of queueing without bound; a call
 * whose deadline has already passed is dropped with DEADLINE_EXCEEDED, not done. The checks are
 * a few comparisons, so a refusal stays cheap and an admitted Authorize stays synchronous.
 */
export class Admission {
  private inFlight = 0;
  private lagMs = 0;
  private shedding = false;
  /** Consecutive samples above the bound. */
  private over = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly o: AdmissionOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Starts sampling the event-loop lag; returns a function that stops it. */
  start(): () => void {
    const every = this.o.sampleMs ?? 20;
    let expected = this.now() + every;
    this.timer = setInterval(() => {
      const now = this.now();
      this.observeLag(Math.max(0, now - expected));
      expected = now + every;
    }, every);
    this.timer.unref();
    return () => clearInterval(this.timer);
  }

  /**
   * Records a lag sample. Shedding starts when the lag stays above the bound for several samples
   * in a row (one long pause — a full GC, a stopped process — is not overload, and what queued
   * behind it drains by itself), and stops once a sample falls below half of it.
   */
  observeLag(lagMs: number): void {
    this.lagMs = lagMs;
    this.over = lagMs > this.o.maxLagMs ? this.over + 1 : 0;
    const shed = this.shedding ? lagMs > this.o.maxLagMs / 2 : this.over >= SUSTAINED_SAMPLES;
    if (shed === this.shedding) return;
    this.shedding = shed;
    this.o.onShedding?.(shed);
  }

  /** What the admission sees now (metrics, tests). */
  stats(): { inFlight: number; lagMs: number; shedding: boolean } {
    return { inFlight: this.inFlight, lagMs: this.lagMs, shedding: this.shedding };
  }

  /** Throws when the call must not start; otherwise the call counts as in flight until `done`. */
  private admit(ctx: CallContext): void {
    const deadline = ctx.deadline();
    if (deadline !== undefined && deadline <= this.now())
      throw new TesseraError("DEADLINE_EXCEEDED", "the call's deadline passed before it could start");
    if (this.shedding || this.inFlight >= this.o.maxInFlight)
      throw new TesseraError("OVERLOADED", "the server is overloaded; retry shortly", {
        retry_after_seconds: RETRY_AFTER_SECONDS,
      });
  }

  /**
   * Runs a plain HTTP handler (the AuthZEN endpoints) under the same admission as the RPCs:
   * refused at once (OVERLOADED, DEADLINE_EXCEEDED) or counted in flight until it settles.
   */
  guard<R>(ctx: CallContext, run: () => Promise<R>): Promise<R> {
    this.admit(ctx);
    this.inFlight++;
    const done = () => {
      this.inFlight--;
    };
    const result = run();
    result.then(done, done);
    return result;
  }

  /** The binding with every handler admitted first, and its asynchronous work counted. */
  wrap(binding: ServiceBinding): ServiceBinding {
    const handlers: ServiceBinding["handlers"] = {};
    for (const [name, handler] of Object.entries(binding.handlers)) {
      handlers[name] = (req, ctx) => {
        this.admit(ctx);
        const result = handler(req, ctx);
        // A synchronous answer is done already; only work that waits counts as in flight.
        if (!(result instanceof Promise)) return result;
        this.inFlight++;
        const done = () => {
          this.inFlight--;
        };
        result.then(done, done);
        return result;
      };
    }
    return { ...binding, handlers };
  }
}
