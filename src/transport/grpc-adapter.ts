import { isIP } from "node:net";
import { create, type DescMessage, fromBinary, isMessage, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { peerIdentity } from "../auth/peer.js";
import type { CallContext } from "../core/context.js";
import { TesseraError } from "../domain/errors.js";
import type { PeerIdentity } from "../domain/principal.js";
import type { CallMeter, Tally } from "../observe/call-meter.js";
import { REQUEST_ID_HEADER, requestIdFrom } from "../observe/request-id.js";
import { statusDetailsBin, toWireError } from "../rpc/errors.js";
import { asBuffer, type ServiceBinding } from "../rpc/handlers.js";

/** Marks a request that did not decode, so the handler answers INVALID_ARGUMENT instead of grpc-js's INTERNAL. */
const UNDECODABLE: object = Object.freeze({});
type Decoded = object;

/** A call's context: one small object per call (the hot path allocates as little as it can). */
class GrpcCallContext implements CallContext {
  private peerIdentity: PeerIdentity | undefined | null = null;
  /** Declared here so that setting it keeps the object's shape (see CredentialUsage). */
  usageCounted = false;
  adminTokenCounted = false;

  constructor(
    private readonly call: grpc.ServerUnaryCall<unknown, unknown>,
    readonly requestId: string,
  ) {}

  header(name: string): string | undefined {
    const v = this.call.metadata.get(name)[0];
    return typeof v === "string" ? v : undefined;
  }

  peer(): PeerIdentity | undefined {
    // Computed on first use only: most calls never ask.
    if (this.peerIdentity === null)
      this.peerIdentity = peerIdentity(this.call.getAuthContext()?.sslPeerCertificate);
    return this.peerIdentity;
  }

  remote(): string | undefined {
    return addressOfPeer(this.call.getPeer());
  }

  deadline(): number | undefined {
    const d = this.call.getDeadline();
    const ms = d instanceof Date ? d.getTime() : d;
    return Number.isFinite(ms) ? ms : undefined;
  }
}

/** The address in grpc-js's `getPeer()` (`address:port`, IPv6 unbracketed, or `unknown`). */
export function addressOfPeer(peer: string): string | undefined {
  const address = peer.slice(0, Math.max(0, peer.lastIndexOf(":")));
  return isIP(address) ? address : isIP(peer) ? peer : undefined;
}

/** The status object grpc-js sends for a failure, with the reason in the trailers. */
export function grpcError(err: unknown): Partial<grpc.StatusObject> {
  const wire = toWireError(err);
  const metadata = new grpc.Metadata();
  metadata.set("tessera-reason", wire.reason);
  metadata.set("grpc-status-details-bin", statusDetailsBin(wire));
  return { code: wire.code as number as grpc.status, details: `${wire.reason}: ${wire.message}`, metadata };
}

/** The call's request id (the caller's, when sane), sent back at once in the response headers. */
function takeRequestId(call: grpc.ServerUnaryCall<unknown, unknown>): string {
  const id = requestIdFrom(call.metadata.get(REQUEST_ID_HEADER)[0]);
  const headers = new grpc.Metadata();
  headers.set(REQUEST_ID_HEADER, id);
  call.sendMetadata(headers);
  return id;
}

/** Answers with an error, recording the call first when it is metered. */
function fail(
  callback: grpc.sendUnaryData<object>,
  err: unknown,
  tally: Tally | undefined,
  started: number,
  requestId: string,
): void {
  const status = grpcError(err);
  tally?.record(status.code ?? grpc.status.UNKNOWN, started, requestId);
  callback(status);
}

/**
 * Registers a service's handlers on a grpc-js server, (de)serializing with protobuf-es. With a
 * `meter`, each call is timed and counted on its method's tally (made here, once per method).
 */
export function addGrpcService(server: grpc.Server, binding: ServiceBinding, meter?: CallMeter): void {
  const definition: Record<string, grpc.MethodDefinition<object, object>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of binding.service.methods) {
    const handler = binding.handlers[method.localName];
    if (!handler) throw new Error(`no handler for ${binding.service.typeName}.${method.name}`);
    const output: DescMessage = method.output;
    const encode = binding.encoders[method.localName];
    definition[method.localName] = {
      path: `/${binding.service.typeName}/${method.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (m: object) => asBuffer(toBinary(method.input, m as never)),
      requestDeserialize: (b: Buffer): Decoded => {
        try {
          return fromBinary(method.input, b);
        } catch {
          return UNDECODABLE;
        }
      },
      responseSerialize: encode
        ? (m: object) => encode(m as never)
        : (m: object) => asBuffer(toBinary(output, m as never)),
      responseDeserialize: (b: Buffer) => fromBinary(output, b),
    };
    // With a hand-written encoder the plain response object goes straight to it.
    const asMessage = (out: object): object =>
      encode || isMessage(out, output) ? out : create(output, out as never);
    const tally = meter?.method(binding.service.typeName, method.name, "grpc");
    implementation[method.localName] = (
      call: grpc.ServerUnaryCall<Decoded, object>,
      callback: grpc.sendUnaryData<object>,
    ) => {
      const started = tally ? performance.now() : 0;
      const requestId = takeRequestId(call);
      if (call.request === UNDECODABLE) {
        const err = new TesseraError("REQUEST_MALFORMED", "the request is not a valid protobuf message");
        return fail(callback, err, tally, started, requestId);
      }
      let result: ReturnType<typeof handler>;
      try {
        result = handler(call.request as never, new GrpcCallContext(call, requestId));
      } catch (err) {
        return fail(callback, err, tally, started, requestId);
      }
      // A handler that could answer at once (Authorize on a cached credential) is answered in
      // this same turn: no promise, no extra trip through the microtask queue.
      if (!(result instanceof Promise)) {
        tally?.record(grpc.status.OK, started, requestId);
        callback(null, asMessage(result));
        return;
      }
      result.then(
        (out) => {
          tally?.record(grpc.status.OK, started, requestId);
          callback(null, asMessage(out));
        },
        (err: unknown) => fail(callback, err, tally, started, requestId),
      );
    };
  }
  server.addService(definition as grpc.ServiceDefinition, implementation);
}
