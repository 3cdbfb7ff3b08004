import type { DescMessage, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { CallContext } from "../core/context.js";
import { compileFieldLimits } from "./field-limits.js";

/** One unary RPC, written once and served by every transport. */
export type UnaryHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  ctx: CallContext,
) => Promise<MessageInitShape<O>> | MessageInitShape<O>;

/** A handler for every method of a service with only unary methods. */
export type ServiceHandlers<M extends GenServiceMethods> = {
  [K in keyof M]: UnaryHandler<M[K]["input"], M[K]["output"]>;
};

/** A Uint8Array as a Buffer over the same memory (grpc-js wants a Buffer; copying would cost an allocation). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Encodes what a handler returned straight to protobuf bytes, skipping the reflective encoder. */
export type ResponseEncoder<O extends DescMessage> = (response: MessageInitShape<O>) => Buffer;

/** A service descriptor paired with its handlers, as transports take them. */
export interface ServiceBinding {
  readonly service: DescService;
  readonly handlers: Record<string, UnaryHandler<DescMessage, DescMessage>>;
  /** Hand-written response encoders for the hottest methods (the gRPC port uses them). */
  readonly encoders: Readonly<Record<string, ResponseEncoder<DescMessage> | undefined>>;
}

/**
 * Each handler behind its request's field-limit check (domain/limits.ts), so every transport and
 * the in-memory test level refuse an oversized field before any handler reads it. The check is
 * synchronous and throws, so a handler that answers at once still does.
 */
function withFieldLimits(
  service: DescService,
  handlers: ServiceBinding["handlers"],
): ServiceBinding["handlers"] {
  const checked: ServiceBinding["handlers"] = {};
  for (const method of service.methods) {
    const handler = handlers[method.localName];
    if (!handler) continue;
    const check = compileFieldLimits(method.input);
    checked[method.localName] = check
      ? (request, ctx) => {
          check(request);
          return handler(request, ctx);
        }
      : handler;
  }
  return checked;
}

/** Pairs a generated service with its handlers (the casts are where the generic typing ends). */
export function bindService<M extends GenServiceMethods>(
  service: DescService & { method: { [K in keyof M]: M[K] } },
  handlers: ServiceHandlers<M>,
  encoders: NoInfer<{ [K in keyof M]?: ResponseEncoder<M[K]["output"]> }> = {},
): ServiceBinding {
  return {
    service,
    handlers: withFieldLimits(service, handlers as unknown as ServiceBinding["handlers"]),
    encoders: encoders as ServiceBinding["encoders"],
  };
}
