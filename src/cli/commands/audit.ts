import type { Command } from "commander";
import type { AuditRecord } from "../../../gen/tessera/v1/admin_service_pb.js";
import { clientsFor } from "../common.js";
import { isoTime } from "../format.js";
import { topLevel } from "../registry.js";
import { jsonLine, limitFlag, pageThrough, timeFlag } from "./audit-common.js";

const parse = (text: string): unknown => (text ? JSON.parse(text) : undefined);

export function auditJson(r: AuditRecord) {
  return {
    at: isoTime(r.at),
    actor: r.actor,
    authMethod: r.authMethod,
    action: r.action,
    targetKind: r.targetKind,
    targetId: r.targetId,
    before: parse(r.beforeJson),
    after: parse(r.afterJson),
    requestId: r.requestId,
  };
}

function auditLine(r: AuditRecord): string {
  const change = [r.beforeJson && `before=${r.beforeJson}`, r.afterJson && `after=${r.afterJson}`]
    .filter(Boolean)
    .join(" ");
  const req = r.requestId ? ` req=${r.requestId}` : "";
  return `${isoTime(r.at)}  ${r.actor} (${r.authMethod})  ${r.action} ${r.targetKind}:${r.targetId}  ${change}${req}`;
}

interface AuditQueryOptions {
  since?: string;
  until?: string;
  actor?: string;
  action?: string;
  targetKind?: string;
  targetId?: string;
  requestId?: string;
  limit: string;
  newestFirst?: boolean;
}

/** `tessera audit query`: the org's admin audit trail, as lines or JSON lines. */
export function registerAudit(program: Command): void {
  const audit = topLevel(program, "audit");
  audit
    .command("query")
    .description(
      "the org's admin changes: who (and how it authenticated), what, before/after, when, request id",
    )
    .option("--since <when>", "from this time: a duration back from now (1h, 7d) or an ISO 8601 time")
    .option("--until <when>", "before this time (same forms)")
    .option("--actor <id>", "only this actor (admin:KEY_ID, api_key:KEY_ID, user:USER_ID, server)")
    .option("--action <action>", "only this action (agent.create, api_key.revoke, policy.change, …)")
    .option("--target-kind <kind>", "only changes to this kind (agent, api_key, policy, user, …)")
    .option("--target-id <id>", "only changes to this id")
    .option("--request-id <id>", "only the changes of the call with this x-request-id")
    .option("--limit <n>", "at most this many records (0: all)", "100")
    .option("--newest-first", "newest first (default: oldest first)")
    .action(async (o: AuditQueryOptions, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const request = {
        since: timeFlag("--since", o.since),
        until: timeFlag("--until", o.until),
        actor: o.actor ?? "",
        action: o.action ?? "",
        targetKind: o.targetKind ?? "",
        targetId: o.targetId ?? "",
        requestId: o.requestId ?? "",
        newestFirst: Boolean(o.newestFirst),
      };
      const n = await pageThrough(
        limitFlag(o.limit),
        async (cursor, limit) =>
          clients.admin.queryAudit({ ...request, cursor, limit }, { headers: clients.adminHeaders() }),
        (r) => (json ? jsonLine(auditJson(r)) : process.stdout.write(`${auditLine(r)}\n`)),
      );
      if (n === 0 && !json) process.stdout.write("(no audit records)\n");
    });
}
