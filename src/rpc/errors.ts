import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { type ErrorKind, type ErrorReason, TesseraError } from "../domain/errors.js";

/** The domain all Tessera ErrorInfo reasons belong to. */
export const ERROR_DOMAIN = "tessera.dev";

const CODES: Record<ErrorKind, Code> = {
  invalid_argument: Code.InvalidArgument,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  resource_exhausted: Code.ResourceExhausted,
  deadline_exceeded: Code.DeadlineExceeded,
  unavailable: Code.Unavailable,
  internal: Code.Internal,
};

/** A failure as it goes on the wire: code, reason, a safe message, and details. */
export interface WireError {
  readonly code: Code;
  readonly reason: ErrorReason;
  readonly message: string;
  readonly details: Readonly<Record<string, string>>;
}

/** Logs what the client is not shown. Set by the composition root. */
let logInternal: (err: unknown) => void = (err) => console.error("internal error", err);

export function setInternalErrorLogger(log: (err: unknown) => void): void {
  logInternal = log;
}

/** Logs a failure no client caused and none is told of (a transport's own, after the answer). */
export function reportInternal(err: unknown): void {
  logInternal(err);
}

/**
 * The single map from anything a handler throws to what the client sees. Unknown errors
 * become INTERNAL with a generic message; their cause is logged, never sent.
 */
export function toWireError(err: unknown): WireError {
  if (err instanceof TesseraError) {
    return { code: CODES[err.kind], reason: err.reason, message: err.message, details: err.details };
  }
  logInternal(err);
  return { code: Code.Internal, reason: "INTERNAL", message: "internal error", details: {} };
}

/** The google.rpc.ErrorInfo detail carrying the reason. */
export function errorInfo(e: WireError) {
  return create(ErrorInfoSchema, { reason: e.reason, domain: ERROR_DOMAIN, metadata: { ...e.details } });
}

/** Seconds the caller should wait before retrying, when the refusal says (overload, rate limits, lockout). */
export function retryAfterSeconds(e: WireError): number | undefined {
  const s = Number(e.details.retry_after_seconds);
  return Number.isInteger(s) && s >= 0 ? s : undefined;
}

/** The google.rpc.RetryInfo detail of a refusal that says when to retry. */
export function retryInfo(e: WireError) {
  const seconds = retryAfterSeconds(e);
  return seconds === undefined
    ? undefined
    : create(RetryInfoSchema, { retryDelay: { seconds: BigInt(seconds) } });
}

/** The `grpc-status-details-bin` payload: a google.rpc.Status with the ErrorInfo (and RetryInfo). */
export function statusDetailsBin(e: WireError): Buffer {
  const retry = retryInfo(e);
  const status = create(StatusSchema, {
    code: e.code,
    message: e.message,
    details: [anyPack(ErrorInfoSchema, errorInfo(e)), ...(retry ? [anyPack(RetryInfoSchema, retry)] : [])],
  });
  return Buffer.from(toBinary(StatusSchema, status));
}

const HTTP_STATUS: Record<ErrorKind, number> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
  failed_precondition: 400,
  resource_exhausted: 429,
  deadline_exceeded: 504,
  unavailable: 503,
  internal: 500,
};

/** Reasons whose plain-HTTP status is more specific than their kind's. */
const HTTP_STATUS_OF_REASON: Partial<Record<ErrorReason, number>> = {
  REQUEST_TOO_LARGE: 413,
  METHOD_NOT_ALLOWED: 405,
  OVERLOADED: 503,
};

/** The HTTP status of a refusal on a plain JSON endpoint (AuthZEN), as Connect would map its code. */
export function httpStatusOf(e: WireError): number {
  return HTTP_STATUS_OF_REASON[e.reason] ?? (e.code === Code.Internal ? 500 : HTTP_STATUS[kindOf(e.code)]);
}

function kindOf(code: Code): ErrorKind {
  for (const [kind, c] of Object.entries(CODES)) if (c === code) return kind as ErrorKind;
  return "internal";
}
