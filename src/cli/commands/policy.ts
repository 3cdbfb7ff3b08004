import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { clientsFor } from "../common.js";
import { emit } from "../output.js";

/** The YAML files at a path: the file itself, or a directory's *.yaml/*.yml in name order. */
export function yamlFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(path, f));
}

export function registerPolicy(program: Command): void {
  const policy = program.command("policy").description("manage the org's policies");
  policy
    .command("apply")
    .description("store policy documents (a file or a directory of YAML files); each becomes a new revision")
    .requiredOption("-f, --file <path>", "a YAML file or a directory")
    .action(async (o: { file: string }, cmd: Command) => {
      const { clients, json } = clientsFor(cmd);
      const applied: { file: string; name: string; revision: number }[] = [];
      for (const file of yamlFiles(o.file)) {
        const res = await clients.admin.putPolicy(
          { document: readFileSync(file, "utf8") },
          { headers: clients.adminHeaders() },
        );
        applied.push({ file, name: res.name, revision: Number(res.revision) });
      }
      emit(json, { applied }, () =>
        applied.map((a) => `${a.file}: policy ${a.name} at revision ${a.revision}`).join("\n"),
      );
    });
  policy
    .command("list")
    .description("list the org's policies and its current revision")
    .action(async (_o: unknown, cmd: Command) => {
      const { clients, json } = clientsFor(cmd);
      const res = await clients.admin.listPolicies({}, { headers: clients.adminHeaders() });
      const policies = res.policies.map((p) => ({
        name: p.name,
        revision: Number(p.revision),
        rules: p.ruleCount,
      }));
      emit(json, { revision: Number(res.revision), policies }, () =>
        [
          `revision ${res.revision}`,
          ...policies.map((p) => `  ${p.name}  (${p.rules} rules, since revision ${p.revision})`),
        ].join("\n"),
      );
    });
}
