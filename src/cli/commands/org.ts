import type { Command } from "commander";
import type { TrustedOrg } from "../../../gen/tessera/v1/admin_service_pb.js";
import type { ApiKey } from "../../../gen/tessera/v1/types_pb.js";
import { parseDuration } from "../../config/duration.js";
import { clientsFor, collect } from "../common.js";
import { confirm, withYes } from "../confirm.js";
import { isoTime } from "../format.js";
import { emit, UsageError } from "../output.js";
import { topLevel } from "../registry.js";

function keyJson(k: ApiKey | undefined) {
  if (!k) return undefined;
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    scopes: k.scopes,
    createdAt: isoTime(k.createdAt),
    expiresAt: isoTime(k.expiresAt),
    revokedAt: isoTime(k.revokedAt),
  };
}

function trustedJson(t: TrustedOrg | undefined) {
  if (!t) return undefined;
  return { orgId: t.orgId, trustedAt: isoTime(t.trustedAt), actor: t.actor };
}

/** `tessera org trust|untrust|trusted`: other orgs whose tokens this org's policies decide. */
function registerTrust(org: Command): void {
  org
    .command("trust <org-id>")
    .description(
      "let the org's callers present that org's tokens to Authorize, decided by this org's policies (one direction; needs trust:manage)",
    )
    .action(async (orgId: string, _o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const res = await clients.admin.trustOrg({ orgId }, { headers: clients.adminHeaders() });
      emit(
        json,
        { trusted: trustedJson(res.trusted) },
        () => `trusting ${orgId}: its tokens are decided by this org's policies`,
      );
    });
  org
    .command("untrust <org-id>")
    .description("stop trusting an org: its tokens are refused again (TOKEN_ORG_MISMATCH), on every worker")
    .action(async (orgId: string, _o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      await clients.admin.untrustOrg({ orgId }, { headers: clients.adminHeaders() });
      emit(json, { untrusted: orgId }, () => `no longer trusting ${orgId}`);
    });
  org
    .command("trusted")
    .description("list the orgs this org trusts")
    .action(async (_o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const res = await clients.admin.listTrustedOrgs({}, { headers: clients.adminHeaders() });
      const orgs = res.orgs.map(trustedJson);
      emit(
        json,
        { orgs },
        () =>
          orgs.map((o) => `${o?.orgId}  since ${o?.trustedAt ?? "-"}  by ${o?.actor}`).join("\n") ||
          "(no trusted orgs)",
      );
    });
}

/** `tessera org rotate-credentials|trust|untrust|trusted`. */
export function registerOrg(program: Command): void {
  withYes(
    topLevel(program, "org")
      .command("rotate-credentials")
      .description("issue a new API key and admin token (shown once); the old ones stop working at once"),
  ).action(async (_o: unknown, cmd: Command) => {
    const { clients, json } = await clientsFor(cmd);
    const headers = clients.adminHeaders();
    await confirm(cmd, "replace the org's API key and admin token; the current ones stop working at once");
    const res = await clients.admin.rotateOrgCredentials({}, { headers });
    emit(json, { apiKey: res.apiKey, adminToken: res.adminToken }, () =>
      [
        "New credentials (shown once):",
        `  export TESSERA_API_KEY=${res.apiKey}`,
        `  export TESSERA_ADMIN_TOKEN=${res.adminToken}`,
      ].join("\n"),
    );
  });
  registerTrust(topLevel(program, "org"));
}

/** `tessera api-keys create|list|revoke|rotate`. */
export function registerApiKeys(program: Command): void {
  const keys = topLevel(program, "api-keys");
  keys
    .command("create")
    .description("create a scoped API key (tsk_…, shown once)")
    .requiredOption("--name <name>", "what the key is for")
    .option(
      "--scope <scope>",
      "a scope (repeatable): admin, policies:manage, capabilities:manage, decisions:evaluate, audit:read, …",
      collect,
      [],
    )
    .option("--expires-in <duration>", "e.g. 30d; default: never")
    .action(async (o: { name: string; scope: string[]; expiresIn?: string }, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
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
  keys
    .command("list")
    .description("list the org's API keys (never the keys themselves)")
    .action(async (_o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
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
  keys
    .command("revoke <id>")
    .description("revoke an API key: it stops working at once")
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      await clients.admin.revokeApiKey({ id }, { headers: clients.adminHeaders() });
      emit(json, { revoked: id }, () => `revoked ${id}`);
    });
  keys
    .command("rotate <id>")
    .description("issue a replacement key (shown once); the old one works until the grace period ends")
    .option("--grace <duration>", "how long the old key keeps working (default 24h)")
    .action(async (id: string, o: { grace?: string }, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
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
