import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import type { CallContext } from "../../src/core/context.js";
import { TesseraError } from "../../src/domain/errors.js";
import { Admission } from "../../src/rpc/admission.js";
import { errorResponse } from "../../src/rpc/authzen.js";
import { statusDetailsBin, toWireError } from "../../src/rpc/errors.js";
import type { ServiceBinding } from "../../src/rpc/handlers.js";
import { connectError } from "../../src/transport/connect-adapter.js";

const ctx = (deadline?: number): CallContext => ({
  header: () => undefined,
  peer: () => undefined,
  remote: () => undefined,
  deadline: () => deadline,
});

/** A binding whose `sync` answers at once and whose `slow` waits until released. */
function binding() {
  const pending: (() => void)[] = [];
  const b: ServiceBinding = {
    service: AuthService,
    encoders: {},
    handlers: {
      sync: () => ({ ok: true }),
      slow: () => new Promise((resolve) => pending.push(() => resolve({ ok: true }))),
    },
  };
  return { b, release: () => pending.shift()?.() };
}

const reasonOf = (f: () => unknown) => {
  try {
    f();
    return "admitted";
  } catch (err) {
    return (err as TesseraError).reason;
  }
};

/** Issue #11: shed, don't drown — a bound on calls in flight, a watch on the event loop, deadlines. */
describe("per-worker admission", () => {
  it("refuses beyond the in-flight bound at once, and admits again as calls finish", async () => {
    const a = new Admission({ maxInFlight: 2, maxLagMs: 1000 });
    const { b, release } = binding();
    const h = a.wrap(b).handlers;
    const first = h.slow?.({} as never, ctx());
    h.slow?.({} as never, ctx());
    expect(a.stats().inFlight).toBe(2);
    expect(reasonOf(() => h.slow?.({} as never, ctx()))).toBe("OVERLOADED");
    // A synchronous answer never waits, but it is refused too while the worker is full.
    expect(reasonOf(() => h.sync?.({} as never, ctx()))).toBe("OVERLOADED");
    release();
    await first;
    expect(a.stats().inFlight).toBe(1);
    expect(h.sync?.({} as never, ctx())).toEqual({ ok: true });
  });

  it("sheds while the event loop lags, until the lag halves, and says so", () => {
    const changes: boolean[] = [];
    const a = new Admission({ maxInFlight: 100, maxLagMs: 200, onShedding: (s) => changes.push(s) });
    const h = a.wrap(binding().b).handlers;
    // One long pause (a full GC, a stopped process) is not overload.
    a.observeLag(5_000);
    a.observeLag(10);
    expect(reasonOf(() => h.sync?.({} as never, ctx()))).toBe("admitted");
    // Sustained lag is.
    for (let i = 0; i < 3; i++) a.observeLag(250);
    expect(reasonOf(() => h.sync?.({} as never, ctx()))).toBe("OVERLOADED");
    a.observeLag(150); // still above half: keeps shedding (no flapping)
    expect(a.stats().shedding).toBe(true);
    a.observeLag(50);
    expect(reasonOf(() => h.sync?.({} as never, ctx()))).toBe("admitted");
    expect(changes).toEqual([true, false]);
  });

  it("drops a call whose deadline has passed, without running it", () => {
    let ran = 0;
    const a = new Admission({ maxInFlight: 10, maxLagMs: 1000, now: () => 10_000 });
    const run = () => {
      ran++;
      return {};
    };
    const b: ServiceBinding = { service: AuthService, encoders: {}, handlers: { h: run } };
    const h = a.wrap(b).handlers;
    expect(reasonOf(() => h.h?.({} as never, ctx(9_999)))).toBe("DEADLINE_EXCEEDED");
    expect(ran).toBe(0);
    h.h?.({} as never, ctx(10_001));
    expect(ran).toBe(1);
  });

  it("tells a refused caller when to retry: RetryInfo on gRPC, Retry-After and RetryInfo on Connect", () => {
    const err = new TesseraError("OVERLOADED", "busy", { retry_after_seconds: "1" });
    const wire = toWireError(err);
    expect(wire.code).toBe(Code.ResourceExhausted);
    const status = fromBinary(StatusSchema, statusDetailsBin(wire));
    expect(status.details.map((d) => anyUnpack(d, ErrorInfoSchema)?.reason).filter(Boolean)).toEqual([
      "OVERLOADED",
    ]);
    const retry = status.details.map((d) => anyUnpack(d, RetryInfoSchema)).find(Boolean);
    expect(retry?.retryDelay?.seconds).toBe(1n);
    const connect = connectError(err);
    expect(connect.metadata.get("retry-after")).toBe("1");
    expect(connect.findDetails(RetryInfoSchema)[0]?.retryDelay?.seconds).toBe(1n);
    const deadline = toWireError(new TesseraError("DEADLINE_EXCEEDED", "late"));
    expect(deadline.code).toBe(Code.DeadlineExceeded);
  });
});

/** Issue #12: the AuthZEN endpoints (plain HTTP, no RPC binding) go through the same admission. */
describe("admission of plain HTTP handlers", () => {
  it("counts a guarded call in flight, refuses past the bound, and the AuthZEN answer is 503 OVERLOADED", async () => {
    const a = new Admission({ maxInFlight: 1, maxLagMs: 1000 });
    let release = () => {};
    const first = a.guard(ctx(), () => new Promise<void>((resolve) => (release = resolve)));
    expect(a.stats().inFlight).toBe(1);
    expect(reasonOf(() => a.guard(ctx(), async () => undefined))).toBe("OVERLOADED");
    let refusal: unknown;
    try {
      a.guard(ctx(), async () => undefined);
    } catch (err) {
      refusal = err;
    }
    const res = errorResponse(refusal);
    expect({ status: res.status, reason: (res.body as { reason: string }).reason }).toEqual({
      status: 503,
      reason: "OVERLOADED",
    });
    expect(res.headers?.["retry-after"]).toBe("1");
    release();
    await first;
    expect(a.stats().inFlight).toBe(0);
  });

  it("drops a call whose deadline has passed", () => {
    const a = new Admission({ maxInFlight: 10, maxLagMs: 1000 });
    expect(reasonOf(() => a.guard(ctx(Date.now() - 1), async () => undefined))).toBe("DEADLINE_EXCEEDED");
  });
});
