import type { Command } from "commander";
import { parseDuration } from "../../config/duration.js";
import { resolveAgentId } from "../agent-ref.js";
import { clientsFor, collect } from "../common.js";
import { isoTime } from "../format.js";
import { emit, UsageError } from "../output.js";
import { topLevel } from "../registry.js";

export function registerToken(program: Command): void {
  const token = topLevel(program, "token");
  token
    .command("mint")
    .description(
      "mint a signed token for an agent of the org (as an admin; or, with --token, an agent for its sub-agents)",
    )
    .requiredOption("--agent <agent>", "the agent the token is for: NAME or ID")
    .requiredOption(
      "--scope <scope>",
      "a scope the token carries (repeatable, at least one), e.g. governance:propose",
      collect,
    )
    .option("--ttl <duration>", "lifetime, e.g. 15m or 1h (default: the server's default)")
    .action(async (o: { agent: string; scope: string[]; ttl?: string }, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      let ttl: { seconds: bigint } | undefined;
      if (o.ttl !== undefined) {
        const seconds = parseDuration(o.ttl);
        if (!seconds) throw new UsageError("--ttl must be a duration like 15m or 1h");
        ttl = { seconds: BigInt(seconds) };
      }
      const agentId = await resolveAgentId(clients, o.agent);
      const res = await clients.auth.mintToken(
        { agentId, scopes: o.scope, ...(ttl ? { ttl } : {}) },
        { headers: clients.adminHeaders() },
      );
      emit(
        json,
        { token: res.token, expiresAt: isoTime(res.expiresAt), tokenId: res.tokenId },
        () => res.token,
      );
    });
}
