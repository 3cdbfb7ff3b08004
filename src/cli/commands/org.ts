import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Command } from "commander";
import type { ApiKey } from "../../../gen/tessera/v1/types_pb.js";
import { parseDuration } from "../../config/duration.js";
import { clientsFor, collect } from "../common.js";
import { emit, UsageError } from "../output.js";

function keyJson(k: ApiKey | undefined) {
  if (!k) return undefined;
  const at = (t: ApiKey["createdAt"]) => (t ? timestampDate(t).toISOString() : undefined);
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    scopes: k.scopes,
    createdAt: at(k.createdAt),
    expiresAt: at(k.expiresAt),
    revokedAt: at(k.revokedAt),
  };
}

/** `tessera org rotate-credentials` and `tessera api-keys create|list|revoke|rotate`. */
export function registerOrg(program: Command): void {
  program
    .command("org")
    .description("the org's own credentials")
    .command("rotate-credentials")
    .description("issue a new API key and admin token (shown once); the old ones stop working at once")
    .action(async (_o: unknown, cmd: Command) => {
      const { clients, json } = clientsFor(cmd);
      const res = await clients.admin.rotateOrgCredentials({}, { headers: clients.adminHeaders() });
      emit(json, { apiKey: res.apiKey, adminToken: res.adminToken }, () =>
        [
          "New credentials (shown once):",
          `  export TESSERA_API_KEY=${res.apiKey}`,
          `  export TESSERA_ADMIN_TOKEN=${res.adminToken}`,
        ].join("\n"),
      );
    });
  const keys = program.command("api-keys").description("scoped API keys for automation");
  keys
    .command("create")
    .requiredOption("--name <name>", "what the key is for")
    .option(
      "--scope <scope>",
      "a scope (repeatable): admin, policies:manage, capabilities:manage, audit:read, …",
      collect,
      [],
    )
    .option("--expires-in <duration>", "e.g. 30d; default: never")
    .action(async (o: { name: string; scope: string[]; expiresIn?: string }, cmd: Command) => {
      const { clients, json } = clientsFor(cmd);
      let expiresAt: { seconds: bigint } | undefined;
      if (o.expiresIn) {
        const s = parseDuration(o.expiresIn);
        if (!s) throw new UsageError("--expires-in must be a duration like 30d");
        expiresAt = { seconds: BigInt(Math.floor(Date.now() / 1000) + s) };
      }
      const res = await clients.admin.createApiKey(
        { name: o.name, scopes: o.scope, ...(expiresAt ? { expiresAt } : {}) },
        { headers: clients.adminHeaders() },
      );
      emit(
        json,
        { apiKey: res.apiKey, key: keyJson(res.key) },
        () => `${res.apiKey}\n(shown once; id ${res.key?.id})`,
      );
    });
  keys.command("list").action(async (_o: unknown, cmd: Command) => {
    const { clients, json } = clientsFor(cmd);
    const res = await clients.admin.listApiKeys({}, { headers: clients.adminHeaders() });
    emit(
      json,
      { keys: res.keys.map(keyJson) },
      () =>
        res.keys
          .map(
            (k) =>
              `${k.id}  ${k.prefix}…  ${k.name}  [${k.scopes.join(",")}]${k.revokedAt ? "  revoked" : ""}`,
          )
          .join("\n") || "(no keys)",
    );
  });
  keys.command("revoke <id>").action(async (id: string, _o: unknown, cmd: Command) => {
    const { clients, json } = clientsFor(cmd);
    await clients.admin.revokeApiKey({ id }, { headers: clients.adminHeaders() });
    emit(json, { revoked: id }, () => `revoked ${id}`);
  });
  keys
    .command("rotate <id>")
    .option("--grace <duration>", "how long the old key keeps working (default 24h)")
    .action(async (id: string, o: { grace?: string }, cmd: Command) => {
      const { clients, json } = clientsFor(cmd);
      const grace = o.grace === undefined ? undefined : parseDuration(o.grace);
      if (o.grace !== undefined && grace === undefined)
        throw new UsageError("--grace must be a duration like 1h");
      const res = await clients.admin.rotateApiKey(
        { id, ...(grace !== undefined ? { grace: { seconds: BigInt(grace) } } : {}) },
        { headers: clients.adminHeaders() },
      );
      emit(
        json,
        { apiKey: res.apiKey, key: keyJson(res.key) },
        () => `${res.apiKey}\n(shown once; the old key works until its grace period ends)`,
      );
    });
}
