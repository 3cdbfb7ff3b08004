import type { Command } from "commander";
import { Decision } from "../../../gen/tessera/v1/auth_service_pb.js";
import { clientsFor, collect } from "../common.js";
import { tierArg } from "../format.js";
import { EXIT, emit, UsageError } from "../output.js";

interface CheckOptions {
  token?: string;
  subject?: string;
  tier: string;
  role: string[];
  scope: string;
  resource?: string;
  attr: string[];
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

export function registerCheck(program: Command): void {
  program
    .command("check")
    .description("ask Authorize from the shell; exits 0 on ALLOW and 3 on DENY")
    .option("--token <jwt>", "subject: a Tessera token")
    .option("--subject <id>", "subject: an id given as attributes (uses the org of --api-key)")
    .option("--tier <tier>", "tier of an attributes subject", "unverified")
    .option("--role <role>", "role of an attributes subject (repeatable)", collect, [])
    .requiredOption("--scope <scope>", "the scope exercised, e.g. governance:propose")
    .option("--resource <kind/id>", "the resource, e.g. tool/t1")
    .option("--attr <key=value>", "a resource attribute (repeatable)", collect, [])
    .action(async (o: CheckOptions, cmd: Command) => {
      if (Boolean(o.token) === Boolean(o.subject))
        throw new UsageError("give exactly one of --token and --subject");
      const { clients, json } = clientsFor(cmd);
      const subject = o.token
        ? { case: "token" as const, value: o.token }
        : {
            case: "attributes" as const,
            value: { id: o.subject ?? "", tier: tierArg(o.tier), roles: o.role },
          };
      const res = await clients.auth.authorize(
        { subject, scope: o.scope, resource: resourceArg(o.resource, o.attr) },
        { headers: o.token ? {} : clients.orgHeaders() },
      );
      const decision = res.decision === Decision.ALLOW ? "ALLOW" : "DENY";
      const out = {
        decision,
        reason: res.reason,
        rule: res.rule,
        policyRevision: Number(res.policyRevision),
        decisionId: res.decisionId,
      };
      emit(
        json,
        out,
        () =>
          `${decision}  reason=${res.reason}${res.rule ? `  rule=${res.rule}` : ""}  revision=${out.policyRevision}`,
      );
      if (decision === "DENY") process.exitCode = EXIT.denied;
    });
}
