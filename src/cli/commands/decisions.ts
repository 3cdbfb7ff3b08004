import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Command } from "commander";
import type { QueryDecisionsRequestSchema } from "../../../gen/tessera/v1/admin_service_pb.js";
import {
  DecisionFilter,
  type DecisionRecord,
  type QueryDecisionsRequest,
} from "../../../gen/tessera/v1/admin_service_pb.js";
import { clientsFor } from "../common.js";
import { isoTime } from "../format.js";
import { UsageError } from "../output.js";
import { topLevel } from "../registry.js";
import { jsonLine, limitFlag, pageThrough, timeFlag } from "./audit-common.js";

export function decisionJson(r: DecisionRecord) {
  return {
    id: r.id,
    at: isoTime(r.at),
    decision: r.allowed ? "ALLOW" : "DENY",
    subjectId: r.subjectId,
    ...(r.subjectOrg ? { subjectOrg: r.subjectOrg } : {}),
    scope: r.scope,
    resource: { kind: r.resourceKind, id: r.resourceId },
    reason: r.reason,
    rule: r.rule,
    policyRevision: Number(r.policyRevision),
    caller: r.caller,
  };
}

function decisionLine(r: DecisionRecord): string {
  const resource = r.resourceKind || r.resourceId ? ` ${r.resourceKind}:${r.resourceId}` : "";
  const rule = r.rule ? ` rule=${r.rule}` : "";
  return `${isoTime(r.at)}  ${r.allowed ? "ALLOW" : "DENY "}  ${r.subjectId}  ${r.scope}${resource}  ${r.reason}${rule}  caller=${r.caller || "-"}`;
}

interface FilterOptions {
  since?: string;
  subject?: string;
  caller?: string;
  scope?: string;
  decision?: string;
  reason?: string;
  rule?: string;
  resourceKind?: string;
  resourceId?: string;
}

function decisionFlag(text: string | undefined): DecisionFilter {
  if (text === undefined || text === "") return DecisionFilter.UNSPECIFIED;
  const t = text.toLowerCase();
  if (t === "allow") return DecisionFilter.ALLOW;
  if (t === "deny") return DecisionFilter.DENY;
  throw new UsageError("--decision takes allow or deny");
}

function filterOf(o: FilterOptions): MessageInitShape<typeof QueryDecisionsRequestSchema> {
  return {
    since: timeFlag("--since", o.since),
    subjectId: o.subject ?? "",
    caller: o.caller ?? "",
    scope: o.scope ?? "",
    decision: decisionFlag(o.decision),
    reason: o.reason ?? "",
    rule: o.rule ?? "",
    resourceKind: o.resourceKind ?? "",
    resourceId: o.resourceId ?? "",
  };
}

function withFilters(c: Command, since: string): Command {
  return c
    .option("--since <when>", "from this time: a duration back from now (1h, 7d) or an ISO 8601 time", since)
    .option("--subject <id>", "only decisions about this subject (principal)")
    .option("--caller <id>", "only decisions asked for by this caller (api_key:ID, spiffe:…, agent:ID)")
    .option("--scope <scope>", "only this scope")
    .option("--decision <d>", "allow | deny")
    .option("--reason <reason>", "only this reason (RULE_MATCHED, NO_MATCHING_RULE, …)")
    .option("--rule <name>", "only decisions made by this rule")
    .option("--resource-kind <kind>", "only this resource kind")
    .option("--resource-id <id>", "only this resource id");
}

const print = (json: boolean) => (r: DecisionRecord) =>
  json ? jsonLine(decisionJson(r)) : process.stdout.write(`${decisionLine(r)}\n`);

/** `tessera decisions query|tail`: the org's logged decisions, as lines or JSON lines. */
export function registerDecisions(program: Command): void {
  const decisions = topLevel(program, "decisions");
  withFilters(
    decisions
      .command("query")
      .description("the org's logged decisions, filtered, in the order they were logged"),
    "1h",
  )
    .option("--until <when>", "before this time (same forms as --since)")
    .option("--limit <n>", "at most this many decisions (0: all)", "100")
    .option("--newest-first", "newest first (default: oldest first)")
    .action(
      async (o: FilterOptions & { until?: string; limit: string; newestFirst?: boolean }, cmd: Command) => {
        const { clients, json } = await clientsFor(cmd);
        const request = {
          ...filterOf(o),
          until: timeFlag("--until", o.until),
          newestFirst: Boolean(o.newestFirst),
        };
        const n = await pageThrough(
          limitFlag(o.limit),
          async (cursor, limit) =>
            clients.admin.queryDecisions({ ...request, cursor, limit }, { headers: clients.adminHeaders() }),
          print(json),
        );
        if (n === 0 && !json) process.stdout.write("(no decisions)\n");
      },
    );
  withFilters(
    decisions
      .command("tail")
      .description("follow the org's decisions as they are logged (like kubectl logs -f); Ctrl-C stops"),
    "0s",
  )
    .option("--interval <ms>", "how often to ask for new decisions, in milliseconds", "500")
    .action(async (o: FilterOptions & { interval: string }, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const interval = Number(o.interval);
      if (!Number.isInteger(interval) || interval < 50)
        throw new UsageError("--interval takes at least 50 (ms)");
      const request: QueryDecisionsRequest | MessageInitShape<typeof QueryDecisionsRequestSchema> =
        filterOf(o);
      await follow(
        interval,
        async (cursor) =>
          clients.admin.queryDecisions(
            { ...request, cursor, limit: 1000 },
            { headers: clients.adminHeaders() },
          ),
        print(json),
      );
    });
}

/**
 * Polls with the cursor until SIGINT (or SIGTERM): each poll reads every page there is, then
 * waits `intervalMs`. A signal ends the wait at once and the command exits 0.
 */
async function follow(
  intervalMs: number,
  fetch: (cursor: string) => Promise<{ records: DecisionRecord[]; nextCursor: string; hasMore: boolean }>,
  out: (r: DecisionRecord) => void,
): Promise<void> {
  let stopped = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopped = true;
    wake?.();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    let cursor = "";
    while (!stopped) {
      const page = await fetch(cursor);
      for (const r of page.records) out(r);
      cursor = page.nextCursor || cursor;
      if (page.hasMore) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}
