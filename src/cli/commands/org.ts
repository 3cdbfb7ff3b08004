import type { Command } from "commander";
import type { TrustedOrg } from "../../../gen/tessera/v1/admin_service_pb.js";
import type { ApiKey } from "../../../gen/tessera/v1/types_pb.js";
import { parseDuration } from "../../config/duration.js";
import { clientsFor, collect } from "../common.js";
import { confirm, withYes } from "../confirm.js";
import { isoTime, isUnused, unusedDaysArg, usageText } from "../format.js";
import { emit, UsageError } from "../output.js";
import { topLevel } from "../registry.js";

/** Whether a live key is unused for N days (kept here for callers of this module). */
export { isUnused };

function keyJson(k: ApiKey | undefined) {
  if (!k) return undefined;
  return {
    lastUsedAt: isoTime(k.lastUsedAt),
    useCount: Number(k.useCount),
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    scopes: k.scopes,
    createdAt: isoTime(k.createdAt),
    expiresAt: isoTime(k.expiresAt),
    revokedAt: isoTime(k.revokedAt),
    rateLimit: k.rateLimit
      ? { requestsPerSecond: k.rateLimit.requestsPerSecond, burst: k.rateLimit.burst }
      : undefined,
  };
}

/** `--rps N [--burst M]` as a rate limit; undefined without --rps. */
function rateLimitOption(o: { rps?: string; burst?: string }) {
  if (o.rps === undefined) {
    if (o.burst !== undefined) throw new UsageError("--burst needs --rps");
    return undefined;
  }
  const whole = (v: string, flag: string) => {
    if (!/^[1-9][0-9]{0,6}$/.test(v)) throw new UsageError(`${flag} must be a whole number from 1`);
    return Number(v);
  };
  const requestsPerSecond = whole(o.rps, "--rps");
  return { requestsPerSecond, burst: o.burst === undefined ? requestsPerSecond : whole(o.burst, "--burst") };
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
    .option(
      "--rps <n>",
      "the key's own rate limit, requests per second (default: the server's per-key default)",
    )
    .option("--burst <n>", "requests the key may send at once (default: --rps)")
    .action(
      async (
        o: { name: string; scope: string[]; expiresIn?: string; rps?: string; burst?: string },
        cmd: Command,
      ) => {
        const { clients, json } = await clientsFor(cmd);
        let expiresAt: { seconds: bigint } | undefined;
        if (o.expiresIn) {
          const s = parseDuration(o.expiresIn);
          if (!s) throw new UsageError("--expires-in must be a duration like 30d");
          expiresAt = { seconds: BigInt(Math.floor(Date.now() / 1000) + s) };
        }
        const rateLimit = rateLimitOption(o);
        const res = await clients.admin.createApiKey(
          {
            name: o.name,
            scopes: o.scope,
            ...(expiresAt ? { expiresAt } : {}),
            ...(rateLimit ? { rateLimit } : {}),
          },
          { headers: clients.adminHeaders() },
        );
        emit(
          json,
          { apiKey: res.apiKey, key: keyJson(res.key) },
          () => `${res.apiKey}\n(shown once; id ${res.key?.id})`,
        );
      },
    );
  keys
    .command("limit <id>")
    .description("set an API key's own rate limit (or --clear it: the server's per-key default applies)")
    .option("--rps <n>", "requests per second")
    .option("--burst <n>", "requests the key may send at once (default: --rps)")
    .option("--clear", "remove the key's own limit")
    .action(async (id: string, o: { rps?: string; burst?: string; clear?: boolean }, cmd: Command) => {
      const rateLimit = rateLimitOption(o);
      if (!rateLimit === !o.clear) throw new UsageError("give --rps (and --burst), or --clear");
      const { clients, json } = await clientsFor(cmd);
      await clients.admin.setApiKeyRateLimit(
        { id, ...(rateLimit ? { rateLimit } : {}) },
        { headers: clients.adminHeaders() },
      );
      emit(json, { id, rateLimit: rateLimit ?? null }, () =>
        rateLimit
          ? `${id}: at most ${rateLimit.requestsPerSecond}/s, bursts of ${rateLimit.burst}`
          : `${id}: the server's per-key default applies`,
      );
    });
  keys
    .command("list")
    .description("list the org's API keys (never the keys themselves), when each was last used and how often")
    .option("--unused-days <n>", "flag live keys not used for this many days", "30")
    .action(async (o: { unusedDays: string }, cmd: Command) => {
      const days = unusedDaysArg(o.unusedDays);
      const { clients, json } = await clientsFor(cmd);
      const res = await clients.admin.listApiKeys({}, { headers: clients.adminHeaders() });
      // The org's primary key and admin token first (no scopes, no name), then the scoped keys.
      const own = res.orgCredentials.map((k) => {
        const { name: _n, scopes: _s, ...rest } = keyJson(k) ?? {};
        return { ...rest, kind: k.kind, unused: isUnused(k, days) };
      });
      emit(
        json,
        {
          keys: res.keys.map((k) => ({ ...keyJson(k), unused: isUnused(k, days) })),
          orgCredentials: own,
        },
        () =>
          [
            ...res.orgCredentials.map(
              (k) =>
                `${k.id}  ${k.prefix ? `${k.prefix}…  ` : ""}${k.kind === "primary" ? "(primary API key)" : "(admin token)"}  ${usageText(k, days)}`,
            ),
            ...(res.keys.length
              ? res.keys.map((k) => {
                  const flags = [
                    k.revokedAt ? "revoked" : "",
                    k.rateLimit ? `${k.rateLimit.requestsPerSecond}/s burst ${k.rateLimit.burst}` : "",
                  ].filter(Boolean);
                  return `${k.id}  ${k.prefix}…  ${k.name}  [${k.scopes.join(",")}]  ${usageText(k, days)}${flags.length ? `  ${flags.join("  ")}` : ""}`;
                })
              : ["(no scoped keys)"]),
          ].join("\n"),
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
