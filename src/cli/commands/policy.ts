import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Command } from "commander";
import type { PutPolicyResponse } from "../../../gen/tessera/v1/admin_service_pb.js";
import { clientsFor, wantsJson } from "../common.js";
import { confirm, withYes } from "../confirm.js";
import { emit, UsageError } from "../output.js";
import { topLevel } from "../registry.js";
import { registerPolicyDiff } from "./policy-diff.js";
import { registerPolicyTest } from "./policy-test.js";

/** The local policy tools (the engine, YAML), loaded only by the commands that read files. */
const local = () => import("../policy-local.js");

function registerLocal(policy: Command): void {
  policy
    .command("validate <path>")
    .description(
      "check policy files (a file or a directory) locally, with no server; exits 1 on the first error, 2 when there is no policy",
    )
    .action(async (path: string, _o: unknown, cmd: Command) => {
      const { documents } = (await local()).compileLocal([path]);
      const rules = documents.reduce((n, d) => n + d.rules.length, 0);
      const maps = documents.filter((d) => d.routeMap);
      const routes = maps.reduce((n, d) => n + (d.routeMap?.routes.length ?? 0), 0);
      const policies = documents.length - maps.length;
      emit(
        wantsJson(cmd),
        { valid: true, policies: documents.map((d) => d.name), rules, routes },
        () =>
          `ok: ${policies} policies, ${rules} rules${maps.length ? `, ${maps.length} route maps, ${routes} routes` : ""}`,
      );
    });
  registerPolicyTest(policy);
}

/** What `policy apply` did, for --json. */
function appliedJson(res: PutPolicyResponse) {
  return {
    policies: res.names,
    revision: Number(res.revision),
    unchanged: res.unchanged,
    added: res.added,
    changed: res.changed,
    deleted: res.deleted,
    unchangedPolicies: res.unchangedNames,
  };
}

/** What `policy apply` did, one line per kind of change. */
function appliedText(res: PutPolicyResponse): string {
  if (res.unchanged) return `unchanged: revision ${res.revision} is in force (${res.names.join(", ")})`;
  const lines: [string, string[]][] = [
    ["added", res.added],
    ["changed", res.changed],
    ["deleted", res.deleted],
    ["unchanged", res.unchangedNames],
  ];
  return [
    `applied as revision ${res.revision}`,
    ...lines.filter(([, names]) => names.length > 0).map(([what, names]) => `  ${what}: ${names.join(", ")}`),
  ].join("\n");
}

function registerRemote(policy: Command): void {
  policy
    .command("apply [path]")
    .description("validate policy files locally, then store them all as one new revision (all or nothing)")
    .option("-f, --file <path>", "same as PATH: a YAML file or a directory")
    .option("--prune", "also delete stored policies the files do not contain (in the same revision)")
    .action(async (path: string | undefined, o: { file?: string; prune?: boolean }, cmd: Command) => {
      if (path && o.file) throw new UsageError("give the path once: PATH or --file");
      if (path) o.file = path; // -f is the older spelling of PATH; either ends up in o.file
      if (!o.file) throw new UsageError("give the policy files: tessera policy apply PATH");
      const { compileLocal, policyTexts } = await local();
      compileLocal([o.file]);
      const texts = policyTexts([o.file]);
      if (texts.length === 0) throw new UsageError(`no Policy document in ${o.file}`);
      const { clients, json } = await clientsFor(cmd);
      const document = texts.join("---\n");
      const res = await clients.admin.putPolicy(
        { document, file: o.file, prune: Boolean(o.prune) },
        { headers: clients.adminHeaders() },
      );
      emit(json, appliedJson(res), () => appliedText(res));
    });
  policy
    .command("list")
    .description("list the org's policy documents (Policy, RouteMap) and its current revision")
    .action(async (_o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const res = await clients.admin.listPolicies({}, { headers: clients.adminHeaders() });
      const policies = res.policies.map((p) => ({
        name: p.name,
        kind: p.kind || "Policy",
        revision: Number(p.revision),
        rules: p.ruleCount,
      }));
      emit(json, { revision: Number(res.revision), policies }, () =>
        [
          `revision ${res.revision}`,
          ...policies.map((p) => {
            const what = p.kind === "RouteMap" ? "routes" : "rules";
            return `  ${p.name}  ${p.kind}  (${p.rules} ${what}, since revision ${p.revision})`;
          }),
        ].join("\n"),
      );
    });
  policy
    .command("get <name>")
    .description("print a stored policy document (as in force, or at --revision)")
    .option("--revision <n>", "the revision to show")
    .action(async (name: string, o: { revision?: string }, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const revision = o.revision === undefined ? 0n : BigInt(Number.parseInt(o.revision, 10) || 0);
      const res = await clients.admin.getPolicy({ name, revision }, { headers: clients.adminHeaders() });
      emit(json, { name: res.name, revision: Number(res.revision), document: res.document }, () =>
        res.document.trimEnd(),
      );
    });
  policy
    .command("history [name]")
    .description("every change to the org's policies, newest first")
    .action(async (name: string | undefined, _o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const res = await clients.admin.policyHistory(
        { name: name ?? "" },
        { headers: clients.adminHeaders() },
      );
      const changes = res.changes.map((c) => ({
        revision: Number(c.revision),
        name: c.name,
        action: c.action,
        changedAt: c.changedAt ? timestampDate(c.changedAt).toISOString() : undefined,
        actor: c.actor || undefined,
      }));
      emit(
        json,
        { changes },
        () =>
          changes
            .map((c) => `${c.revision}  ${c.changedAt ?? "-"}  ${c.action}  ${c.name}  by ${c.actor ?? "-"}`)
            .join("\n") || "(no changes)",
      );
    });
  withYes(policy.command("delete <name>").description("remove a policy document (a new revision)")).action(
    async (name: string, _o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      await confirm(cmd, `delete policy ${name} from the org's policies in force`);
      const res = await clients.admin.deletePolicy({ name }, { headers: clients.adminHeaders() });
      emit(json, { revision: Number(res.revision) }, () => `deleted ${name}; revision ${res.revision}`);
    },
  );
}

export function registerPolicy(program: Command): void {
  const policy = topLevel(program, "policy");
  registerLocal(policy);
  registerRemote(policy);
  registerPolicyDiff(policy);
}
