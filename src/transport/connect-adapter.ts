import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import type { TLSSocket } from "node:tls";
import { create, type DescMessage, isMessage } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type ContextValues,
  createContextKey,
  createContextValues,
  type HandlerContext,
} from "@connectrpc/connect";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { peerIdentity } from "../auth/peer.js";
import type { CallContext } from "../core/context.js";
import type { PeerIdentity } from "../domain/principal.js";
import type { CallMeter } from "../observe/call-meter.js";
import { REQUEST_ID_HEADER, requestIdFrom } from "../observe/request-id.js";
import { errorInfo, retryAfterSeconds, retryInfo, toWireError } from "../rpc/errors.js";
import type { ServiceBinding } from "../rpc/handlers.js";

/** Carries the verified client-certificate identity from the Node request into handlers. */
export const peerKey = createContextKey<PeerIdentity | undefined>(undefined);

/** Carries the caller's network address from the Node request into handlers. */
export const remoteKey = createContextKey<string | undefined>(undefined);

/** What a handler may learn of the Node request it serves: the peer identity and address. */
export function requestContextValues(req: IncomingMessage | Http2ServerRequest): ContextValues {
  return createContextValues().set(peerKey, socketPeer(req.socket)).set(remoteKey, req.socket?.remoteAddress);
}

/** The peer identity of a Node request's socket, when it presented a certificate we verified. */
export function socketPeer(socket: unknown): PeerIdentity | undefined {
  const tls = socket as Partial<TLSSocket>;
  if (!tls.authorized || typeof tls.getPeerCertificate !== "function") return undefined;
  return peerIdentity(tls.getPeerCertificate());
}

function connectContext(ctx: HandlerContext, requestId: string): CallContext {
  return {
    requestId,
    header: (name) => ctx.requestHeader.get(name) ?? undefined,
    peer: () => ctx.values.get(peerKey),
    remote: () => ctx.values.get(remoteKey),
    deadline: () => {
      const left = ctx.timeoutMs();
      return left === undefined ? undefined : Date.now() + left;
    },
  };
}

/** A thrown error as a ConnectError carrying the ErrorInfo reason. */
export function connectError(err: unknown): ConnectError {
  const wire = toWireError(err);
  const retry = retryInfo(wire);
  return new ConnectError(
    `${wire.reason}: ${wire.message}`,
    wire.code as Code,
    {
      "tessera-reason": wire.reason,
      ...(retry ? { "retry-after": String(retryAfterSeconds(wire)) } : {}),
    },
    [
      { desc: ErrorInfoSchema, value: errorInfo(wire) },
      ...(retry ? [{ desc: RetryInfoSchema, value: retry }] : []),
    ],
  );
}

/**
 * Registers a service's handlers on a Connect router. Every call's request id goes back in the
 * response headers; with a `meter`, each call is timed and counted on its method's tally.
 */
export function addConnectService(
  router: ConnectRouter,
  binding: ServiceBinding,
  meter?: CallMeter,
): Record<string, (req: never, ctx: HandlerContext) => Promise<unknown>> {
  const impl: Record<string, (req: never, ctx: HandlerContext) => Promise<unknown>> = {};
  for (const method of binding.service.methods) {
    const handler = binding.handlers[method.localName];
    if (!handler) throw new Error(`no handler for ${binding.service.typeName}.${method.name}`);
    const output: DescMessage = method.output;
    const tally = meter?.method(binding.service.typeName, method.name, "connect");
    impl[method.localName] = async (req, ctx) => {
      const started = tally ? performance.now() : 0;
      const requestId = requestIdFrom(ctx.requestHeader.get(REQUEST_ID_HEADER));
      ctx.responseHeader.set(REQUEST_ID_HEADER, requestId);
      try {
        const out = await handler(req, connectContext(ctx, requestId));
        tally?.record(0, started, requestId);
        return isMessage(out, output) ? out : create(output, out as never);
      } catch (err) {
        const e = connectError(err);
        tally?.record(e.code, started, requestId);
        throw e;
      }
    };
  }
  router.service(binding.service as never, impl as never);
  // The implementations registered, for a direct path to call the very same (authorize-json.ts).
  return impl;
}

export { Code };
