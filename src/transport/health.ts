import { create, type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  type HealthCheckRequest,
  HealthCheckRequestSchema,
  HealthCheckResponseSchema,
  HealthListRequestSchema,
  HealthListResponseSchema,
  HealthCheckResponse_ServingStatus as Status,
} from "../../gen/grpc/health/v1/health_pb.js";
import { TesseraError } from "../domain/errors.js";
import { grpcError } from "./grpc-adapter.js";

/**
 * Serving status of each service name ("" is the whole server), shared by Check/List/Watch.
 * NOT_SERVING after shutdown, and while any component reports itself not ready (readiness:
 * e.g. the decision log while it spills to a file); SERVING again when all are ready.
 */
export class HealthState {
  private readonly names: readonly string[];
  private readonly watchers = new Map<grpc.ServerWritableStream<HealthCheckRequest, unknown>, string>();
  private readonly unready = new Set<string>();
  private stopped = false;

  constructor(services: readonly string[]) {
    this.names = ["", ...services];
  }

  private current(): Status {
    return this.stopped || this.unready.size > 0 ? Status.NOT_SERVING : Status.SERVING;
  }

  /** Marks every service NOT_SERVING (on shutdown) and tells watchers; final. */
  shutdown(): void {
    this.stopped = true;
    for (const w of this.watchers.keys()) {
      w.write(create(HealthCheckResponseSchema, { status: Status.NOT_SERVING }));
      w.end();
    }
    this.watchers.clear();
  }

  /** Records whether `component` is ready; watchers hear when the status changes. */
  setReady(component: string, ready: boolean): void {
    const before = this.current();
    if (ready) this.unready.delete(component);
    else this.unready.add(component);
    const now = this.current();
    if (now === before || this.stopped) return;
    for (const [w, name] of this.watchers) {
      // A watcher of an unknown service stays at SERVICE_UNKNOWN.
      if (this.names.includes(name)) w.write(create(HealthCheckResponseSchema, { status: now }));
    }
  }

  get(name: string): Status | undefined {
    return this.names.includes(name) ? this.current() : undefined;
  }

  /** Registers grpc.health.v1.Health on a grpc-js server. */
  addTo(server: grpc.Server): void {
    const res = (m: object) => Buffer.from(toBinary(HealthCheckResponseSchema, m as never));
    // A request that does not decode is answered INVALID_ARGUMENT, not grpc-js's INTERNAL.
    const req = (b: Buffer) => decodeOr(HealthCheckRequestSchema, b);
    const base = { requestSerialize: () => Buffer.alloc(0), responseDeserialize: () => ({}) };
    server.addService(
      {
        check: {
          ...base,
          path: "/grpc.health.v1.Health/Check",
          requestStream: false,
          responseStream: false,
          requestDeserialize: req,
          responseSerialize: res,
        },
        list: {
          ...base,
          path: "/grpc.health.v1.Health/List",
          requestStream: false,
          responseStream: false,
          requestDeserialize: (b: Buffer) => decodeOr(HealthListRequestSchema, b),
          responseSerialize: (m: object) => Buffer.from(toBinary(HealthListResponseSchema, m as never)),
        },
        watch: {
          ...base,
          path: "/grpc.health.v1.Health/Watch",
          requestStream: false,
          responseStream: true,
          requestDeserialize: req,
          responseSerialize: res,
        },
      },
      {
        check: (call: grpc.ServerUnaryCall<HealthCheckRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
          if (call.request === UNDECODABLE) return cb(malformed());
          const status = this.get(call.request.service);
          if (status === undefined) cb({ code: grpc.status.NOT_FOUND, details: "unknown service" });
          else cb(null, create(HealthCheckResponseSchema, { status }));
        },
        list: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
          if (call.request === UNDECODABLE) return cb(malformed());
          const status = this.current();
          const statuses = Object.fromEntries(
            this.names.map((k) => [k, create(HealthCheckResponseSchema, { status })]),
          );
          cb(null, create(HealthListResponseSchema, { statuses }));
        },
        watch: (call: grpc.ServerWritableStream<HealthCheckRequest, unknown>) => {
          if (call.request === UNDECODABLE) {
            call.emit("error", malformed());
            return;
          }
          call.write(
            create(HealthCheckResponseSchema, {
              status: this.get(call.request.service) ?? Status.SERVICE_UNKNOWN,
            }),
          );
          this.watchers.set(call, call.request.service);
          call.on("cancelled", () => this.watchers.delete(call));
        },
      },
    );
  }
}

/** Marks a request that did not decode. */
const UNDECODABLE = Object.freeze({ service: "" }) as HealthCheckRequest;

function decodeOr<D extends DescMessage>(schema: D, bytes: Buffer): MessageShape<D> {
  try {
    return fromBinary(schema, bytes);
  } catch {
    return UNDECODABLE as unknown as MessageShape<D>;
  }
}

function malformed(): Partial<grpc.StatusObject> {
  return grpcError(new TesseraError("REQUEST_MALFORMED", "the request is not a valid protobuf message"));
}
