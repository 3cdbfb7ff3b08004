// Real unary gRPC calls (grpc-js, protobuf-es messages): the checks before measuring, and probes.
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";

/**
 * Calls `path` on `port` with a fresh connection (a local subchannel pool, so successive calls
 * land on successive cluster workers). Resolves the decoded response; rejects with the status.
 */
export function grpcCall(port, path, method, message, headers = {}, timeoutMs = 10_000) {
  const client = grpcClient(port);
  return client.call(method, message, headers, timeoutMs, path).finally(() => client.close());
}

/** The gRPC path of a protobuf-es method descriptor. */
export const pathOf = (method) => `/${method.parent.typeName}/${method.name}`;

/** Size of the length-prefixed response message h2load should see for `res`. */
export const framedSize = (method, res) => 5 + toBinary(method.output, res).length;

/** A client on one long-lived connection (so a measurement is of the calls, not of connecting). */
export function grpcClient(port) {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    "grpc.use_local_subchannel_pool": 1,
    "grpc.max_send_message_length": 16 * 1024 * 1024,
  });
  const call = (method, message, headers = {}, timeoutMs = 120_000, path = pathOf(method)) => {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(headers)) md.set(k, v);
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        path,
        (m) => Buffer.from(toBinary(method.input, m)),
        (b) => fromBinary(method.output, b),
        message,
        md,
        { deadline: Date.now() + timeoutMs },
        (err, res) => {
          if (err) reject(new Error(`${path}: ${grpc.status[err.code] ?? err.code} ${err.details}`));
          else resolve(res);
        },
      );
    });
  };
  return { call, close: () => client.close() };
}
