import { type DescMethod, ScalarType } from "@bufbuild/protobuf";
import type { CallContext } from "../core/context.js";
import { TesseraError } from "../domain/errors.js";
import type { ServiceBinding } from "./handlers.js";

type Handler = ServiceBinding["handlers"][string];

/** The kind of credential a call presented, told by which header carried one (never its value). */
export type CallerKind = "operator" | "org-admin" | "api-key" | "bearer" | "mtls" | "none";

/**
 * What the request log records of one call. Never a credential, a token or a request body:
 * only the method, the outcome, the time taken, the kind of caller, and for an admin action
 * the ids or names of what it acted on.
 */
export interface CallRecord {
  /** `request`, or `admin action` for a call that changes an org's or the server's state. */
  readonly kind: "request" | "admin action";
  /** `tessera.v1.AuthService/Authorize`. */
  readonly rpc: string;
  /** The gRPC status name: OK, INVALID_ARGUMENT, UNAUTHENTICATED… */
  readonly code: string;
  /** The refusal's reason (domain/errors.ts), when refused. */
  readonly reason?: string;
  /** Milliseconds in the handler, to the hundredth. */
  readonly ms: number;
  readonly caller: CallerKind;
  /** The call's request id, as returned to the caller in `x-request-id`. */
  readonly requestId?: string | undefined;
  /** For an admin action: the request's identifying fields (`id`, `agentId`, `name`…). */
  readonly target?: Readonly<Record<string, string>> | undefined;
}

export type CallObserver = (record: CallRecord) => void;

/** Request fields that name what an admin action acts on; none of them holds a secret. */
const TARGET_FIELDS = new Set([
  "id",
  "agentId",
  "userId",
  "keyId",
  "name",
  "username",
  "orgId",
  "identity",
  "namespace",
  "file",
]);

/** Reads change nothing; every other admin or system method is an admin action. */
const READ = /^(Get|List|Validate|Test|Explain|Diff|Describe|Check|Status)|History$/;

function isAdminAction(serviceTypeName: string, method: string): boolean {
  return /\.(AdminService|SystemService)$/.test(serviceTypeName) && !READ.test(method);
}

function targetFields(method: DescMethod): string[] {
  return method.input.fields
    .filter(
      (f) => f.fieldKind === "scalar" && f.scalar === ScalarType.STRING && TARGET_FIELDS.has(f.localName),
    )
    .map((f) => f.localName);
}

function callerKind(ctx: CallContext): CallerKind {
  if (ctx.header("x-operator-token")) return "operator";
  if (ctx.header("x-admin-token")) return "org-admin";
  if (ctx.header("x-api-key")) return "api-key";
  if (ctx.header("authorization")) return "bearer";
  return ctx.peer() ? "mtls" : "none";
}

function target(request: unknown, fields: readonly string[]): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const f of fields) {
    const v = (request as Record<string, unknown>)[f];
    if (typeof v === "string" && v !== "") out[f] = v.length > 128 ? `${v.slice(0, 128)}…` : v;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** One method's handler, reporting each call to `observe` once it is answered. */
function observed(
  handler: Handler,
  rpc: string,
  admin: boolean,
  method: DescMethod,
  observe: CallObserver,
): Handler {
  const fields = admin ? targetFields(method) : [];
  return (request, ctx) => {
    const start = performance.now();
    const done = (failed: boolean, err?: unknown) => {
      const record: CallRecord = {
        kind: admin ? "admin action" : "request",
        rpc,
        code: failed ? (err instanceof TesseraError ? err.kind.toUpperCase() : "INTERNAL") : "OK",
        ...(failed ? { reason: err instanceof TesseraError ? err.reason : "INTERNAL" } : {}),
        ms: Math.round((performance.now() - start) * 100) / 100,
        caller: callerKind(ctx),
        ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
        ...(admin ? { target: target(request, fields) } : {}),
      };
      observe(record);
    };
    let result: ReturnType<typeof handler>;
    try {
      result = handler(request, ctx);
    } catch (err) {
      done(true, err);
      throw err;
    }
    // An answer given at once stays at once (the gRPC adapter answers it in the same turn).
    if (!(result instanceof Promise)) {
      done(false);
      return result;
    }
    return result.then(
      (out) => {
        done(false);
        return out;
      },
      (err: unknown) => {
        done(true, err);
        throw err;
      },
    );
  };
}

/**
 * The binding with each call reported to `observe` (the request log at debug level). Bindings
 * are wrapped only when something observes, so at other levels calls pay nothing for it.
 */
export function observeBinding(binding: ServiceBinding, observe: CallObserver): ServiceBinding {
  const handlers: ServiceBinding["handlers"] = {};
  for (const method of binding.service.methods) {
    const handler = binding.handlers[method.localName];
    if (!handler) continue;
    const rpc = `${binding.service.typeName}/${method.name}`;
    const admin = isAdminAction(binding.service.typeName, method.name);
    handlers[method.localName] = observed(handler, rpc, admin, method, observe);
  }
  return { ...binding, handlers };
}
