import { TesseraError } from "../domain/errors.js";

/** A handler for an RPC whose implementation has not landed yet: UNIMPLEMENTED, never INTERNAL. */
export function pending(): never {
  throw new TesseraError("NOT_IMPLEMENTED", "this RPC is not implemented yet");
}
