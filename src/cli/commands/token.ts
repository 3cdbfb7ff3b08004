import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Command } from "commander";
import { parseDuration } from "../../config/duration.js";
import { clientsFor, collect } from "../common.js";
import { emit, UsageError } from "../output.js";

export function registerToken(program: Command): void {
  const token = program.command("token").description("mint tokens");
  token
    .command("mint")
    .description("mint a signed token for an agent of the org (needs the API key and admin token)")
    .requiredOption("--agent <id>", "the agent the token is for")
    .option("--scope <scope>", "a scope the token carries (repeatable), e.g. governance:propose", collect, [])
    .option("--ttl <duration>", "lifetime, e.g. 15m or 1h (default: the server's default)")
    .action(async (o: { agent: string; scope: string[]; ttl?: string }, cmd: Command) => {
      const { clients, json } = clientsFor(cmd);
      let ttl: { seconds: bigint } | undefined;
      if (o.ttl !== undefined) {
        const seconds = parseDuration(o.ttl);
        if (!seconds) throw new UsageError("--ttl must be a duration like 15m or 1h");
        ttl = { seconds: BigInt(seconds) };
      }
      const res = await clients.auth.mintToken(
        { agentId: o.agent, scopes: o.scope, ...(ttl ? { ttl } : {}) },
        { headers: clients.adminHeaders() },
      );
      const expiresAt = res.expiresAt ? timestampDate(res.expiresAt).toISOString() : undefined;
      emit(json, { token: res.token, expiresAt, tokenId: res.tokenId }, () => res.token);
    });
}
