import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Command } from "commander";
import type { GetServerStatusResponse } from "../../../gen/tessera/v1/auth_service_pb.js";
import { clientsFor } from "../common.js";
import { EXIT, emit } from "../output.js";

/** 3725 → "1h 2m 5s". */
export function humanDuration(seconds: number): string {
  const parts: string[] = [];
  const units: [string, number][] = [
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
  ];
  let rest = seconds;
  for (const [unit, size] of units) {
    if (rest >= size || parts.length > 0) parts.push(`${Math.floor(rest / size)}${unit}`);
    rest %= size;
  }
  return [...parts, `${rest}s`].join(" ");
}

/** The status as `--json` prints it; the org's part only when the server told it. */
function statusJson(r: GetServerStatusResponse) {
  return {
    status: r.serving ? "SERVING" : "NOT_SERVING",
    version: r.version,
    workers: r.workers,
    workerId: r.workerId,
    startedAt: r.startedAt ? timestampDate(r.startedAt).toISOString() : undefined,
    uptimeSeconds: Number(r.uptime?.seconds ?? 0n),
    ...(r.orgId ? { orgId: r.orgId, policyRevision: Number(r.policyRevision) } : {}),
  };
}

/** `tessera status`: the server's health, version, workers (and which answered) and uptime, and the org's policy revision. */
export function registerStatus(program: Command): void {
  program
    .command("status")
    .description(
      "show the server's health, version, workers and uptime, and the org's policy revision; exits 1 when not serving",
    )
    .action(async (_o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const res = await clients.auth.getServerStatus({}, { headers: clients.orgHeaders() });
      const out = statusJson(res);
      emit(json, out, () =>
        [
          `${out.status}  tessera ${out.version}, ${out.workers} worker${out.workers === 1 ? "" : "s"}, up ${humanDuration(out.uptimeSeconds)} (since ${out.startedAt ?? "?"})${out.workerId ? `, answered by worker ${out.workerId}` : ""}`,
          out.orgId
            ? `org ${out.orgId}: policy revision ${out.policyRevision}`
            : "(no org credential: no policy revision)",
        ].join("\n"),
      );
      if (!res.serving) process.exitCode = EXIT.failed;
    });
}
