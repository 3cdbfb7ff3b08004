import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { ConfigError } from "../config/config.js";
import { TesseraError } from "../domain/errors.js";
import { ListenError } from "../transport/listen.js";

/** Exit codes: 0 success, 1 failed call, 2 bad usage or configuration, 3 a DENY from `check`. */
export const EXIT = { ok: 0, failed: 1, usage: 2, denied: 3 } as const;

/** Prints a result as JSON (`--json`) or as the human text `human` gives. */
export function emit(json: boolean, data: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${human()}\n`);
}

/** Turns any failure into a message on stderr and an exit code; never prints a stack for a user mistake. */
export function reportError(err: unknown, json: boolean): number {
  let out: { code: string; reason: string; message: string };
  let exit: number = EXIT.failed;
  if (err instanceof ConnectError) {
    const reason = err.findDetails(ErrorInfoSchema)[0]?.reason ?? err.metadata.get("tessera-reason") ?? "";
    out = { code: Code[err.code] ?? String(err.code), reason, message: err.rawMessage };
    if (err.code === Code.Unavailable)
      out.message += " (is the server running? see --server / TESSERA_SERVER)";
  } else if (err instanceof ConfigError || err instanceof UsageError) {
    out = { code: "InvalidArgument", reason: "USAGE", message: err.message };
    exit = EXIT.usage;
  } else if (err instanceof ListenError) {
    out = { code: "Unavailable", reason: "LISTEN_FAILED", message: err.message };
  } else if (err instanceof TesseraError) {
    out = { code: err.kind, reason: err.reason, message: err.message };
  } else {
    out = { code: "Internal", reason: "INTERNAL", message: err instanceof Error ? err.message : String(err) };
  }
  process.stderr.write(
    json
      ? `${JSON.stringify({ error: out })}\n`
      : `error: ${out.message}${out.reason ? ` [${out.reason}]` : ""}\n`,
  );
  return exit;
}

/** A mistake in how the command was called. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
