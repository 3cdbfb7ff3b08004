import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  type HealthCheckRequest,
  HealthCheckRequestSchema,
  HealthCheckResponseSchema,
  HealthListRequestSchema,
  HealthListResponseSchema,
  HealthCheckResponse_ServingStatus as Status,
} from "../../gen/grpc/health/v1/health_pb.js";

/** Serving status of each service name ("" is the whole server), shared by Check/List/Watch. */
export class HealthState {
  private readonly statuses = new Map<string, Status>();
  private readonly watchers = new Set<grpc.ServerWritableStream<HealthCheckRequest, unknown>>();

  constructor(services: readonly string[]) {
    for (const name of ["", ...services]) this.statuses.set(name, Status.SERVING);
  }

  /** Marks every service NOT_SERVING (on shutdown) and tells watchers. */
  shutdown(): void {
    for (const name of this.statuses.keys()) this.statuses.set(name, Status.NOT_SERVING);
    for (const w of this.watchers) {
      w.write(create(HealthCheckResponseSchema, { status: Status.NOT_SERVING }));
      w.end();
    }
    this.watchers.clear();
  }

  get(name: string): Status | undefined {
    return this.statuses.get(name);
  }

  /** Registers grpc.health.v1.Health on a grpc-js server. */
  addTo(server: grpc.Server): void {
    const res = (m: object) => Buffer.from(toBinary(HealthCheckResponseSchema, m as never));
    const req = (b: Buffer) => fromBinary(HealthCheckRequestSchema, b);
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
          requestDeserialize: (b: Buffer) => fromBinary(HealthListRequestSchema, b),
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
          const status = this.get(call.request.service);
          if (status === undefined) cb({ code: grpc.status.NOT_FOUND, details: "unknown service" });
          else cb(null, create(HealthCheckResponseSchema, { status }));
        },
        list: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
          const statuses = Object.fromEntries(
            [...this.statuses].map(([k, status]) => [k, create(HealthCheckResponseSchema, { status })]),
          );
          cb(null, create(HealthListResponseSchema, { statuses }));
        },
        watch: (call: grpc.ServerWritableStream<HealthCheckRequest, unknown>) => {
          call.write(
            create(HealthCheckResponseSchema, {
              status: this.get(call.request.service) ?? Status.SERVICE_UNKNOWN,
            }),
          );
          this.watchers.add(call);
          call.on("cancelled", () => this.watchers.delete(call));
        },
      },
    );
  }
}
