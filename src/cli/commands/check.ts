import type { Command } from "commander";
import type { AuthorizeResponse } from "../../../gen/tessera/v1/auth_service_pb.js";
import { clientsFor, collect, type GlobalOptions } from "../common.js";
import { tierArg, tierOption } from "../format.js";
import { EXIT, emit, UsageError } from "../output.js";
import { topLevel } from "../registry.js";
import { traceJson, traceLines } from "../trace.js";

interface CheckOptions {
  subject?: string;
  tier: string;
  role: string[];
  scope: string;
  resource?: string;
  attr: string[];
  explain?: boolean;
}

/** `kind/id` → a resource; `key=value` pairs → its attributes. */
function resourceArg(spec: string | undefined, attrs: string[]) {
  if (!spec) {
    if (attrs.length > 0) throw new UsageError("--attr needs --resource");
    return undefined;
  }
  const slash = spec.indexOf("/");
  if (slash <= 0) throw new UsageError("--resource must look like kind/id");
  const attr: Record<string, string> = {};
  for (const a of attrs) {
    const eq = a.indexOf("=");
    if (eq <= 0) throw new UsageError("--attr must look like key=value");
    attr[a.slice(0, eq)] = a.slice(eq + 1);
  }
  return { kind: spec.slice(0, slash), id: spec.slice(slash + 1), attr };
}

function print(json: boolean, res: AuthorizeResponse, allow: boolean, explain: boolean): void {
  const decision = allow ? "ALLOW" : "DENY";
  const out = {
    decision,
    reason: res.reason,
    rule: res.rule,
    policyRevision: Number(res.policyRevision),
    decisionId: res.decisionId,
    ...(explain ? { explanation: res.explanation.map(traceJson) } : {}),
  };
  emit(json, out, () =>
    [
      `${decision}  reason=${res.reason}${res.rule ? `  rule=${res.rule}` : ""}  revision=${out.policyRevision}`,
      ...(explain ? traceLines(res.explanation) : []),
    ].join("\n"),
  );
  if (decision === "DENY") process.exitCode = EXIT.denied;
}

/** `tessera check`: Authorize from the shell, the subject a token (--token) or attributes (--subject). */
export function registerCheck(program: Command): void {
  topLevel(program, "check")
    .option("--subject <id>", "subject given as attributes (the org is the caller's: --api-key or --token)")
    .addOption(tierOption("tier of an attributes subject", "unverified"))
    .option("--role <role>", "role of an attributes subject (repeatable)", collect, [])
    .requiredOption("--scope <scope>", "the scope exercised, e.g. governance:propose")
    .option("--resource <kind/id>", "the resource, e.g. tool/t1")
    .option("--attr <key=value>", "a resource attribute (repeatable)", collect, [])
    .option(
      "--explain",
      "also print every candidate rule and its outcome (needs the admin credentials or policies:manage)",
    )
    .addHelpText(
      "after",
      "\nThe subject is --token TOKEN (a Tessera token) or --subject ID with --tier and --role.",
    )
    .action(async (o: CheckOptions, cmd: Command) => {
      const token = cmd.optsWithGlobals<GlobalOptions>().token;
      if (Boolean(token) === Boolean(o.subject))
        throw new UsageError("give exactly one of --token and --subject");
      const { clients, json } = await clientsFor(cmd, { tokenIsSubject: true });
      const subject = token
        ? { case: "token" as const, value: token }
        : {
            case: "attributes" as const,
            value: { id: o.subject ?? "", tier: tierArg(o.tier), roles: o.role },
          };
      // A token is its own credential; explaining needs one that may manage the org's policies.
      const headers = o.explain ? clients.adminHeaders() : token ? {} : clients.orgHeaders();
      const res = await clients.auth.authorize(
        { subject, scope: o.scope, resource: resourceArg(o.resource, o.attr), explain: Boolean(o.explain) },
        { headers },
      );
      // Loaded with the client already; imported here so that defining `check` loads no gen/.
      const { Decision } = await import("../../../gen/tessera/v1/auth_service_pb.js");
      print(json, res, res.decision === Decision.ALLOW, Boolean(o.explain));
    });
}
