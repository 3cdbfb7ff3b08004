import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GetServerStatusResponseSchema } from "../../gen/tessera/v1/auth_service_pb.js";
import type { CallContext } from "../core/context.js";
import type { Tessera } from "../core/tessera.js";
import { secondsToTimestamp } from "./convert.js";

/** Whether the server serves: what /healthz and grpc.health.v1 say (the transport knows). */
export type Serving = () => boolean;

/** AuthService.GetServerStatus: public server facts, and the caller's org's revision. */
export function serverStatusHandler(t: Tessera, serving: Serving) {
  return async (
    _req: unknown,
    ctx: CallContext,
  ): Promise<MessageInitShape<typeof GetServerStatusResponseSchema>> => {
    const r = await t.status.report(ctx);
    return {
      serving: serving(),
      version: r.version,
      workers: r.workers,
      workerId: r.workerId,
      startedAt: secondsToTimestamp(r.startedAt),
      uptime: { seconds: BigInt(r.uptimeSeconds) },
      orgId: r.org?.id ?? "",
      policyRevision: BigInt(r.org?.policyRevision ?? 0),
    };
  };
}
