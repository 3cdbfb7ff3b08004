import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";

/** Runs a call expected to fail; resolves to its Connect code and ErrorInfo reason. */
export async function failure(
  call: Promise<unknown>,
): Promise<{ code: Code; reason: string; metadata: Record<string, string> }> {
  try {
    await call;
  } catch (err) {
    const e = ConnectError.from(err);
    const info = e.findDetails(ErrorInfoSchema)[0];
    return { code: e.code, reason: info?.reason ?? "", metadata: { ...(info?.metadata ?? {}) } };
  }
  throw new Error("expected the call to fail, but it succeeded");
}

export { Code };
