import type { Command } from "commander";
import { resolveAgentId, showAgent } from "../agent-ref.js";
import { clientsFor, collect } from "../common.js";
import { ROLE_HELP, tierArg, tierOption } from "../format.js";
import { UsageError } from "../output.js";

interface UpdateOptions {
  tier?: string;
  role?: string[];
  clearRoles?: boolean;
  tag?: string[];
  clearTags?: boolean;
  /** A NAME-or-ID, or false for --no-parent. */
  parent?: string | false;
}

/** Refuses a flag pair that contradicts itself. */
function exclusive(a: unknown, b: unknown, flags: string): void {
  if (a !== undefined && b !== undefined) throw new UsageError(`give at most one of ${flags}`);
}

/** The UpdateAgent fields the flags ask for: only what is named changes. */
async function changes(o: UpdateOptions, resolve: (ref: string) => Promise<string>) {
  exclusive(o.role, o.clearRoles, "--role and --clear-roles");
  exclusive(o.tag, o.clearTags, "--tag and --clear-tags");
  const setRoles = o.role !== undefined || o.clearRoles === true;
  const setTags = o.tag !== undefined || o.clearTags === true;
  const setParent = o.parent !== undefined;
  if (o.tier === undefined && !setRoles && !setTags && !setParent)
    throw new UsageError(
      "nothing to update: give --tier, --role, --clear-roles, --tag, --clear-tags, --parent or --no-parent",
    );
  return {
    ...(o.tier !== undefined ? { tier: tierArg(o.tier) } : {}),
    roles: o.role ?? [],
    setRoles,
    tags: o.tag ?? [],
    setTags,
    parentId: typeof o.parent === "string" ? await resolve(o.parent) : "",
    setParent,
  };
}

/** `tessera agents update NAME-or-ID`: tier, roles, tags or parent; tokens minted afterwards carry it. */
export function registerAgentUpdate(agents: Command): void {
  agents
    .command("update <agent>")
    .description(
      "change an agent's tier, roles, tags or parent (NAME or ID); tokens minted afterwards carry it",
    )
    .addOption(tierOption("the new trust tier"))
    .option("--role <role>", `${ROLE_HELP}; replaces the roles`, collect)
    .option("--clear-roles", "remove every role")
    .option("--tag <tag>", "a tag (repeatable); replaces the tags", collect)
    .option("--clear-tags", "remove every tag")
    .option("--parent <agent>", "make it a sub-agent of this agent (NAME or ID)")
    .option("--no-parent", "make it a top-level agent again")
    .action(async (ref: string, o: UpdateOptions, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const resolve = (r: string) => resolveAgentId(clients, r);
      const fields = await changes(o, resolve);
      const res = await clients.admin.updateAgent(
        { id: await resolve(ref), ...fields },
        { headers: clients.adminHeaders() },
      );
      if (!res.agent) throw new Error("the server returned no agent");
      await showAgent(clients, json, res.agent);
    });
}
