import type { Command } from "commander";
import { clientsFor, collect } from "../common.js";
import { agentJson, agentLine, tierArg } from "../format.js";
import { emit } from "../output.js";

export function registerAgents(program: Command): void {
  const agents = program.command("agents").description("manage the org's agents");
  agents
    .command("create")
    .description("create an agent")
    .requiredOption("--name <name>", "unique name within the org")
    .option("--tier <tier>", "unverified | verified | trusted | privileged", "unverified")
    .option("--role <role>", "a role (repeatable): viewer, operator, admin", collect, [])
    .option("--tag <tag>", "a tag (repeatable)", collect, [])
    .option("--parent <agent-id>", "make it a sub-agent of this agent (which may then mint tokens for it)")
    .action(
      async (
        o: { name: string; tier: string; role: string[]; tag: string[]; parent?: string },
        cmd: Command,
      ) => {
        const { clients, json } = clientsFor(cmd);
        const res = await clients.admin.createAgent(
          { name: o.name, tier: tierArg(o.tier), roles: o.role, tags: o.tag, parentId: o.parent ?? "" },
          { headers: clients.adminHeaders() },
        );
        const a = res.agent;
        if (!a) throw new Error("the server returned no agent");
        emit(json, agentJson(a), () => agentLine(a));
      },
    );
  agents
    .command("list")
    .description("list the org's agents")
    .action(async (_o: unknown, cmd: Command) => {
      const { clients, json } = clientsFor(cmd);
      const res = await clients.admin.listAgents({}, { headers: clients.adminHeaders() });
      emit(
        json,
        { agents: res.agents.map(agentJson) },
        () => res.agents.map(agentLine).join("\n") || "(no agents)",
      );
    });
  for (const [name, suspend] of [
    ["suspend", true],
    ["resume", false],
  ] as const) {
    agents
      .command(`${name} <id>`)
      .description(
        suspend
          ? "suspend an agent: every token it holds stops working at once"
          : "let a suspended agent authenticate again",
      )
      .action(async (id: string, _o: unknown, cmd: Command) => {
        const { clients, json } = clientsFor(cmd);
        const call = suspend ? clients.admin.suspendAgent : clients.admin.resumeAgent;
        const res = await call({ id }, { headers: clients.adminHeaders() });
        const a = res.agent;
        if (!a) throw new Error("the server returned no agent");
        emit(json, agentJson(a), () => agentLine(a));
      });
  }
  agents
    .command("secret <id>")
    .description("issue a new agent secret (tas_…, shown once); the previous one stops working")
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { clients, json } = clientsFor(cmd);
      const res = await clients.admin.createAgentSecret({ agentId: id }, { headers: clients.adminHeaders() });
      emit(json, { agentId: id, secret: res.secret }, () => res.secret);
    });
  agents
    .command("get <id>")
    .description("show one agent")
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { clients, json } = clientsFor(cmd);
      const res = await clients.admin.getAgent({ id }, { headers: clients.adminHeaders() });
      const a = res.agent;
      if (!a) throw new Error("the server returned no agent");
      emit(json, agentJson(a), () => agentLine(a));
    });
}
