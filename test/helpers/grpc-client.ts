import {
  create,
  type DescMessage,
  type DescService,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import type { GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";

/** A failed call as tests see it: the gRPC code and Tessera's reason. */
export interface CallFailure {
  readonly code: grpc.status;
  readonly reason: string;
  readonly message: string;
}

/** The reason from the grpc-status-details-bin ErrorInfo (and the plain trailer, which must agree). */
export function reasonOf(err: grpc.ServiceError): string {
  const bin = err.metadata?.get("grpc-status-details-bin")[0];
  if (bin instanceof Buffer) {
    const status = fromBinary(StatusSchema, bin);
    for (const any of status.details) {
      const info = anyUnpack(any, ErrorInfoSchema);
      if (info) return info.reason;
    }
  }
  const plain = err.metadata?.get("tessera-reason")[0];
  return typeof plain === "string" ? plain : "";
}

/**
 * A real @grpc/grpc-js client for a protobuf-es service: `call("authorize", req, headers)`
 * resolves to `{ ok: true, value }` or `{ ok: false, error }`, never throws for an RPC error.
 */
export function grpcClient<M extends GenServiceMethods>(
  service: DescService & { method: { [K in keyof M]: M[K] } },
  address: string,
  creds = grpc.credentials.createInsecure(),
  options: grpc.ClientOptions = {},
) {
  const definition: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const m of service.methods) {
    definition[m.localName] = {
      path: `/${service.typeName}/${m.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (v: object) => Buffer.from(toBinary(m.input, v as never)),
      requestDeserialize: (b: Buffer) => fromBinary(m.input, b),
      responseSerialize: (v: object) => Buffer.from(toBinary(m.output, v as never)),
      responseDeserialize: (b: Buffer) => fromBinary(m.output, b),
    };
  }
  const Ctor = grpc.makeGenericClientConstructor(definition as grpc.ServiceDefinition, service.name);
  const client = new Ctor(address, creds, options);
  function call<K extends keyof M & string>(
    method: K,
    request: MessageInitShape<M[K]["input"]>,
    headers: Record<string, string> = {},
  ): Promise<{ ok: true; value: MessageShape<M[K]["output"]> } | { ok: false; error: CallFailure }> {
    const input = service.method[method].input as DescMessage;
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(headers)) md.set(k, v);
    const fn = (
      client as unknown as Record<string, grpc.requestCallback<unknown> & ((...a: unknown[]) => void)>
    )[method];
    if (!fn) throw new Error(`no method ${method}`);
    return new Promise((resolve) => {
      fn.call(
        client,
        create(input, request as never),
        md,
        { deadline: Date.now() + 10_000 },
        (err: grpc.ServiceError | null, value: unknown) => {
          if (err)
            resolve({ ok: false, error: { code: err.code, reason: reasonOf(err), message: err.details } });
          else resolve({ ok: true, value: value as MessageShape<M[K]["output"]> });
        },
      );
    });
  }
  return { call, close: () => client.close(), raw: client };
}

/**
 * An AuthService client on a connection of its own. With `serve --workers N` the kernel picks
 * the worker that accepts it (SCHED_NONE), often the same one many times in a row: a series of
 * these is no proof of reaching every worker (clientsForEveryWorker in workers.ts is).
 */
export function freshAuthClient(port: number) {
  return grpcClient(AuthService, `127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    "grpc.use_local_subchannel_pool": 1,
  });
}
