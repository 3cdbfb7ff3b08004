import type { Command } from "commander";
import type { Clients } from "../client.js";
import { clientsFor } from "../common.js";
import { unifiedDiff } from "../diff.js";
import { EXIT, emit, UsageError } from "../output.js";

/** How a document compares: only local (apply adds it), different, equal, or only on the server. */
type Status = "added" | "changed" | "unchanged" | "server-only";

interface DocumentDiff {
  readonly name: string;
  readonly status: Status;
  readonly file?: string;
  readonly diff?: string;
}

/** A document's text with the separator and trailing blank lines that storing it may add or drop. */
const normal = (text: string) => `${text.replace(/^---[^\n]*\n/, "").trimEnd()}\n`;

/** The org's stored documents by name, and the revision in force. */
async function stored(clients: Clients): Promise<{ revision: number; texts: Map<string, string> }> {
  const headers = clients.adminHeaders();
  const list = await clients.admin.listPolicies({}, { headers });
  const docs = await Promise.all(
    list.policies.map((p) => clients.admin.getPolicy({ name: p.name, revision: 0n }, { headers })),
  );
  return { revision: Number(list.revision), texts: new Map(docs.map((d) => [d.name, d.document])) };
}

function compare(
  local: readonly { name: string; file: string; text: string }[],
  server: Map<string, string>,
): DocumentDiff[] {
  const out: DocumentDiff[] = local.map((doc) => {
    const theirs = server.get(doc.name);
    const mine = normal(doc.text);
    if (theirs === undefined)
      return {
        name: doc.name,
        status: "added",
        file: doc.file,
        diff: unifiedDiff("", mine, "/dev/null", doc.file),
      };
    const diff = unifiedDiff(normal(theirs), mine, `server/${doc.name}`, doc.file);
    return {
      name: doc.name,
      file: doc.file,
      ...(diff ? { status: "changed", diff } : { status: "unchanged" }),
    };
  });
  const names = new Set(local.map((d) => d.name));
  for (const name of server.keys()) if (!names.has(name)) out.push({ name, status: "server-only" });
  return out;
}

function human(docs: readonly DocumentDiff[], revision: number): string {
  const count = (s: Status) => docs.filter((d) => d.status === s).length;
  const lines = docs.flatMap((d) =>
    d.status === "server-only"
      ? [`${d.name}: only on the server (apply --prune would delete it)`]
      : d.diff
        ? [d.diff]
        : [],
  );
  const summary = `${count("changed")} changed, ${count("added")} only local, ${count("server-only")} only on the server, ${count("unchanged")} unchanged (server revision ${revision})`;
  return [...lines, summary].join("\n");
}

/** `tessera policy diff PATH`: the org's stored policies against local files, one diff per document. */
export function registerPolicyDiff(policy: Command): void {
  policy
    .command("diff <path>")
    .description(
      "compare the org's stored policies with the files at a path: a unified diff per document, and what is only on one side",
    )
    .option("--exit-code", "exit 1 when there is any difference (as git diff --exit-code)")
    .action(async (path: string, o: { exitCode?: boolean }, cmd: Command) => {
      const { localPolicies } = await import("../policy-local.js");
      const local = localPolicies([path]);
      if (local.length === 0) throw new UsageError(`no Policy document in ${path}`);
      const { clients, json } = await clientsFor(cmd);
      const server = await stored(clients);
      const docs = compare(local, server.texts);
      emit(json, { revision: server.revision, documents: docs }, () => human(docs, server.revision));
      if (o.exitCode && docs.some((d) => d.status !== "unchanged")) process.exitCode = EXIT.failed;
    });
}
