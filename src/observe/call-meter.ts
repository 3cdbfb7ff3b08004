/*
 * Per-method call tallies: what the transports record of every call, as plain numbers. A
 * tally is made once per method at bind time, so recording a call allocates nothing: it reads
 * the clock, finds a bucket and increments integers. metrics.ts turns the tallies into
 * Prometheus series at scrape time.
 */

/** Which transport carried a call. */
export type Transport = "grpc" | "connect" | "http";

/** Upper bounds of the latency buckets, in seconds (fine at the low end: Authorize is sub-millisecond). */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** The gRPC status names, by code (the `grpc_code` label, as go-grpc-prometheus writes it). */
export const GRPC_CODES = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
] as const;

/** A call slower than the threshold, as the slow-call log line reports it (no request content). */
export interface SlowCall {
  /** `tessera.v1.AuthService/Authorize`, or the HTTP route. */
  readonly rpc: string;
  readonly transport: Transport;
  /** The gRPC status name, or the HTTP status. */
  readonly code: string;
  readonly ms: number;
  readonly requestId: string;
}

/** Latency histogram and outcome counts of one method (or HTTP route) on one transport. */
export class Tally {
  /** Calls per latency bucket (not cumulative; the last slot is above every bound). */
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length + 1);
  sum = 0;
  count = 0;
  /** Calls by outcome beyond gRPC codes 0-16: HTTP statuses. */
  private readonly codes = new Map<number, number>();
  /** gRPC codes 0-16, counted on the hot path by array index (no Map); outcomes() reads both. */
  private readonly small = new Float64Array(GRPC_CODES.length);

  constructor(
    /** The service's full name (`tessera.v1.AuthService`), or "http" for a plain route. */
    readonly service: string,
    /** The method's name, or the HTTP route. */
    readonly method: string,
    readonly transport: Transport,
    private readonly slow: SlowCallWatch | undefined,
  ) {}

  /** Calls by outcome code (gRPC code or HTTP status), non-zero only. */
  outcomes(): [number, number][] {
    const out: [number, number][] = [];
    for (const [code, n] of this.small.entries()) if (n > 0) out.push([code, n]);
    for (const [code, n] of this.codes) out.push([code, n]);
    return out;
  }

  /** Records one call started at `startedAt` (performance.now()) that ended with `code`. */
  record(code: number, startedAt: number, requestId: string): void {
    const seconds = (performance.now() - startedAt) / 1000;
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > (LATENCY_BUCKETS[i] as number)) i++;
    this.buckets[i] = (this.buckets[i] as number) + 1;
    this.sum += seconds;
    this.count++;
    if (code >= 0 && code < GRPC_CODES.length && this.transport !== "http")
      this.small[code] = (this.small[code] as number) + 1;
    else this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
    if (this.slow && seconds * 1000 >= this.slow.ms) this.slow.report(this, code, seconds * 1000, requestId);
  }
}

interface SlowCallWatch {
  readonly ms: number;
  report(tally: Tally, code: number, ms: number, requestId: string): void;
}

export interface CallMeterOptions {
  /** Calls at least this slow (ms) are reported to `onSlow`; 0 turns it off. */
  readonly slowCallMs: number;
  readonly onSlow?: ((call: SlowCall) => void) | undefined;
}

/** Every tally of one server, made at bind time; metrics.ts reads them at scrape time. */
export class CallMeter {
  private readonly all = new Map<string, Tally>();
  private readonly slow: SlowCallWatch | undefined;

  constructor(opts: CallMeterOptions) {
    const onSlow = opts.onSlow;
    this.slow =
      opts.slowCallMs > 0 && onSlow
        ? {
            ms: opts.slowCallMs,
            report: (t, code, ms, requestId) =>
              onSlow({
                rpc: t.service === "http" ? t.method : `${t.service}/${t.method}`,
                transport: t.transport,
                code: t.transport === "http" ? String(code) : (GRPC_CODES[code] ?? String(code)),
                ms: Math.round(ms * 100) / 100,
                requestId,
              }),
          }
        : undefined;
  }

  /** The tally of one method on one transport (the same one when asked twice). */
  method(service: string, method: string, transport: Transport): Tally {
    const key = `${transport} ${service}/${method}`;
    let t = this.all.get(key);
    if (!t) {
      t = new Tally(service, method, transport, this.slow);
      this.all.set(key, t);
    }
    return t;
  }

  /** The tally of a plain HTTP route: `route` must come from a fixed set, never a raw path. */
  route(route: string): Tally {
    return this.method("http", route, "http");
  }

  tallies(): IterableIterator<Tally> {
    return this.all.values();
  }
}
