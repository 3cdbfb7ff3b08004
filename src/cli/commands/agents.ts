import type { Command } from "commander";
import { resolveAgent, resolveAgentId, showAgent } from "../agent-ref.js";
import { clientsFor, collect } from "../common.js";
import { confirm, withYes } from "../confirm.js";
import {
  agentJson,
  agentLine,
  ROLE_HELP,
  tierArg,
  tierOption,
  unusedDaysArg,
  usageJson,
  usageText,
} from "../format.js";
import { emit } from "../output.js";
import { topLevel } from "../registry.js";
import { registerAgentUpdate } from "./agents-update.js";

function registerCreate(agents: Command): void {
  agents
    .command("create")
    .description("create an agent")
    .requiredOption("--name <name>", "unique name within the org")
    .addOption(tierOption("the agent's trust tier", "unverified"))
    .option("--role <role>", ROLE_HELP, collect, [])
    .option("--tag <tag>", "a tag (repeatable)", collect, [])
    .option(
      "--parent <agent>",
      "make it a sub-agent of this agent, NAME or ID (which may then mint tokens for it)",
    )
    .action(
      async (
        o: { name: string; tier: string; role: string[]; tag: string[]; parent?: string },
        cmd: Command,
      ) => {
        const { clients, json } = await clientsFor(cmd);
        const parentId = o.parent ? await resolveAgentId(clients, o.parent) : "";
        const res = await clients.admin.createAgent(
          { name: o.name, tier: tierArg(o.tier), roles: o.role, tags: o.tag, parentId },
          { headers: clients.adminHeaders() },
        );
        if (!res.agent) throw new Error("the server returned no agent");
        await showAgent(clients, json, res.agent);
      },
    );
}

function registerReads(agents: Command): void {
  agents
    .command("list")
    .description("list the org's agents, when each last used its credentials and how often")
    .option("--unused-days <n>", "flag live agents not used for this many days", "30")
    .action(async (o: { unusedDays: string }, cmd: Command) => {
      const days = unusedDaysArg(o.unusedDays);
      const { clients, json } = await clientsFor(cmd);
      const res = await clients.admin.listAgents({}, { headers: clients.adminHeaders() });
      const names = new Map(res.agents.map((a) => [a.id, a.name]));
      emit(
        json,
        { agents: res.agents.map((a) => ({ ...agentJson(a), ...usageJson(a, days) })) },
        () =>
          res.agents.map((a) => `${agentLine(a, names.get(a.parentId))}  ${usageText(a, days)}`).join("\n") ||
          "(no agents)",
      );
    });
  agents
    .command("get <agent>")
    .description("show one agent, by NAME or ID, with its parent and its credentials' usage")
    .option("--unused-days <n>", "flag the agent if not used for this many days", "30")
    .action(async (ref: string, o: { unusedDays: string }, cmd: Command) => {
      const days = unusedDaysArg(o.unusedDays);
      const { clients, json } = await clientsFor(cmd);
      await showAgent(clients, json, await resolveAgent(clients, ref), days);
    });
}

function registerLifecycle(agents: Command): void {
  for (const [name, suspend] of [
    ["suspend", true],
    ["resume", false],
  ] as const) {
    agents
      .command(`${name} <agent>`)
      .description(
        suspend
          ? "suspend an agent (NAME or ID): every token it holds stops working at once"
          : "let a suspended agent (NAME or ID) authenticate again",
      )
      .action(async (ref: string, _o: unknown, cmd: Command) => {
        const { clients, json } = await clientsFor(cmd);
        const id = await resolveAgentId(clients, ref);
        const call = suspend ? clients.admin.suspendAgent : clients.admin.resumeAgent;
        const res = await call({ id }, { headers: clients.adminHeaders() });
        if (!res.agent) throw new Error("the server returned no agent");
        await showAgent(clients, json, res.agent);
      });
  }
  agents
    .command("secret <agent>")
    .description("issue a new agent secret (tas_…, shown once); the previous one stops working")
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const agentId = await resolveAgentId(clients, ref);
      const res = await clients.admin.createAgentSecret({ agentId }, { headers: clients.adminHeaders() });
      emit(json, { agentId, secret: res.secret }, () => res.secret);
    });
  withYes(
    agents
      .command("delete <agent>")
      .description("delete an agent (NAME or ID): its tokens and secrets stop working for good"),
  ).action(async (ref: string, _o: unknown, cmd: Command) => {
    const { clients, json } = await clientsFor(cmd);
    const agent = await resolveAgent(clients, ref);
    await confirm(cmd, `delete agent ${agent.name} (${agent.id}) and end every token it holds`);
    await clients.admin.deleteAgent({ id: agent.id }, { headers: clients.adminHeaders() });
    emit(json, { deleted: agent.id, name: agent.name }, () => `deleted ${agent.name} (${agent.id})`);
  });
}

/** `tessera agents create|list|get|update|delete|suspend|resume|secret`. */
export function registerAgents(program: Command): void {
  const agents = topLevel(program, "agents");
  registerCreate(agents);
  registerReads(agents);
  registerAgentUpdate(agents);
  registerLifecycle(agents);
}
