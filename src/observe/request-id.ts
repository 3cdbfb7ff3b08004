import { randomUUID } from "node:crypto";

/** The header (and gRPC metadata key) carrying a call's request id, both ways. */
export const REQUEST_ID_HEADER = "x-request-id";

/**
 * A request id a caller may choose: bounded length, characters safe in a header, a log line
 * and a URL (a UUID, a W3C trace id, `abc-123`…). Anything else is replaced, not echoed.
 */
const SANE = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's request id when it is sane, else a fresh one. */
export function requestIdFrom(given: unknown): string {
  return typeof given === "string" && SANE.test(given) ? given : randomUUID();
}
