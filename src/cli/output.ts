import { TesseraError } from "../domain/errors.js";

/** Exit codes: 0 success, 1 failed call, 2 bad usage or configuration, 3 a DENY from `check`. */
export const EXIT = { ok: 0, failed: 1, usage: 2, denied: 3 } as const;

/** Prints a result as JSON (`--json`) or as the human text `human` gives. */
export function emit(json: boolean, data: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${human()}\n`);
}

/** A mistake in how the command was called (exit 2). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The one shape every failure is printed in: `{"error":{"code","reason","message"}}` under --json. */
export interface ErrorShape {
  /** The gRPC/Connect code name, e.g. `InvalidArgument`, `Unauthenticated`, `Unavailable`. */
  readonly code: string;
  /** A stable reason: the server's (`API_KEY_UNKNOWN`), or the CLI's own (`USAGE`, `TLS_REQUIRED`…). */
  readonly reason: string;
  readonly message: string;
}

/** A failure already described for the user (a server refusal, a connection problem) with its exit code. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    readonly shape: ErrorShape,
    readonly exit: number,
  ) {
    super(shape.message);
  }
}

/** Reasons about the content of a policy file: a failed check (exit 1), like a failing test, not a usage mistake. */
const CONTENT_REASONS = new Set(["POLICY_INVALID", "POLICY_TOO_COMPLEX"]);

/**
 * The exit code of a refusal: a request the server (or the CLI) refuses as invalid is a usage
 * mistake (2), except an invalid policy document, which is a failed check (1); the rest is 1.
 */
export function exitFor(code: string, reason: string): number {
  return code === "InvalidArgument" && !CONTENT_REASONS.has(reason) ? EXIT.usage : EXIT.failed;
}

/** `invalid_argument` → `InvalidArgument`: a domain error kind as the code names the wire uses. */
function codeName(kind: string): string {
  return kind.replace(/(^|_)([a-z])/g, (_m, _s, c: string) => c.toUpperCase());
}

/** Any failure as the one error shape and an exit code. */
export function describeError(err: unknown): { shape: ErrorShape; exit: number } {
  // The client's interceptor describes failed calls; Connect wraps what it throws, as the cause.
  for (let e = err, depth = 0; e instanceof Error && depth < 3; e = e.cause, depth++)
    if (e instanceof CliError) return { shape: e.shape, exit: e.exit };
  // Checked by name: the classes live in modules this light one must not load (config/, transport/).
  const name = err instanceof Error ? err.name : "";
  const message = err instanceof Error ? err.message : String(err);
  if (name === "UsageError" || name === "ConfigError")
    return { shape: { code: "InvalidArgument", reason: "USAGE", message }, exit: EXIT.usage };
  if (name === "ListenError")
    return { shape: { code: "Unavailable", reason: "LISTEN_FAILED", message }, exit: EXIT.failed };
  if (err instanceof TesseraError) {
    const code = codeName(err.kind);
    return { shape: { code, reason: err.reason, message }, exit: exitFor(code, err.reason) };
  }
  return { shape: { code: "Internal", reason: "INTERNAL", message }, exit: EXIT.failed };
}

/** Turns any failure into a message on stderr and an exit code; never prints a stack for a user mistake. */
export function reportError(err: unknown, json: boolean): number {
  const { shape, exit } = describeError(err);
  process.stderr.write(
    json
      ? `${JSON.stringify({ error: shape })}\n`
      : `error: ${shape.message}${shape.reason ? ` [${shape.reason}]` : ""}\n`,
  );
  return exit;
}
