import type { Agent } from "../../gen/tessera/v1/types_pb.js";
import type { Clients } from "./client.js";
import { agentJson, agentLine, usageJson, usageText } from "./format.js";
import { CliError, EXIT, emit } from "./output.js";

/** Ids the server issues start with this; anything else given for an agent is its name. */
const ID_PREFIX = "agt_";

function notFound(ref: string): CliError {
  return new CliError(
    { code: "NotFound", reason: "AGENT_NOT_FOUND", message: `no agent named ${ref} in this org` },
    EXIT.failed,
  );
}

/** The agent a NAME-or-ID names: GetAgent for an id, the org's list (ListAgents) for a name. */
export async function resolveAgent(clients: Clients, ref: string): Promise<Agent> {
  const headers = clients.adminHeaders();
  if (ref.startsWith(ID_PREFIX)) {
    const res = await clients.admin.getAgent({ id: ref }, { headers });
    if (res.agent) return res.agent;
    throw notFound(ref);
  }
  const { agents } = await clients.admin.listAgents({}, { headers });
  const agent = agents.find((a) => a.name === ref);
  if (!agent) throw notFound(ref);
  return agent;
}

/** The id a NAME-or-ID names; an id is used as given (the server checks it), a name looked up. */
export async function resolveAgentId(clients: Clients, ref: string): Promise<string> {
  return ref.startsWith(ID_PREFIX) ? ref : (await resolveAgent(clients, ref)).id;
}

/** Prints an agent (JSON or one line), naming its parent when it has one. */
export async function showAgent(
  clients: Clients,
  json: boolean,
  a: Agent,
  unusedDays?: number,
): Promise<void> {
  let parentName: string | undefined;
  if (a.parentId) {
    const res = await clients.admin.getAgent({ id: a.parentId }, { headers: clients.adminHeaders() });
    parentName = res.agent?.name;
  }
  // With `unusedDays` (agents get), its credentials' usage too.
  const usage = unusedDays === undefined ? undefined : usageJson(a, unusedDays);
  emit(
    json,
    { ...agentJson(a), ...(parentName ? { parentName } : {}), ...usage },
    () => agentLine(a, parentName) + (unusedDays === undefined ? "" : `  ${usageText(a, unusedDays)}`),
  );
}
