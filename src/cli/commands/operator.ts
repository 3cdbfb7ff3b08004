import type { Command } from "commander";
import type { Org } from "../../../gen/tessera/v1/system_service_pb.js";
import type { Store } from "../../store/store.js";
import { clientsFor, wantsJson } from "../common.js";
import { withYes } from "../confirm.js";
import { isoTime } from "../format.js";
import { emit, UsageError } from "../output.js";
import { topLevel } from "../registry.js";
import { printKeys, rotateSigningKeys } from "./keys.js";
import { identityJson, namespaceJson } from "./services.js";

/** Runs `fn` on the store in the data directory (`--data-dir`, TESSERA_DATA_DIR, default ./data). */
async function onDataDir<T>(dataDir: string | undefined, fn: (store: Store, dir: string) => T): Promise<T> {
  // The store and the server's config are loaded only by the commands that open a data directory.
  const [{ loadConfig }, { openStore }] = await Promise.all([
    import("../../config/config.js"),
    import("../../store/store.js"),
  ]);
  const config = loadConfig({ dataDir });
  const store = openStore(config.dataDir);
  try {
    return fn(store, config.dataDir);
  } finally {
    store.close();
  }
}

const DATA_DIR = [
  "--data-dir <dir>",
  "where the SQLite database lives (TESSERA_DATA_DIR, default ./data)",
] as const;

/** `operator token create|list|revoke`: on the data directory itself, never over the network. */
function registerTokens(operator: Command): void {
  const token = operator
    .command("token")
    .description(
      "operator tokens, made on the server's data directory (whoever can read it is the operator)",
    );
  token
    .command("create")
    .description("create an operator token; printed this once")
    .option(...DATA_DIR)
    .option("--name <name>", "what the token is for", "operator")
    .action(async (o: { dataDir?: string; name: string }, cmd: Command) => {
      const { issueOperatorToken } = await import("../../core/system.js");
      const issued = await onDataDir(o.dataDir, (store) =>
        issueOperatorToken(store.operators, o.name, new Date()),
      );
      emit(wantsJson(cmd), { id: issued.row.id, name: issued.row.name, operatorToken: issued.token }, () =>
        [
          `Operator token ${issued.row.id} (shown once; it is not an org credential):`,
          `  export TESSERA_OPERATOR_TOKEN=${issued.token}`,
        ].join("\n"),
      );
    });
  token
    .command("list")
    .description("list the operator tokens (ids, names and prefixes; never the tokens)")
    .option(...DATA_DIR)
    .action(async (o: { dataDir?: string }, cmd: Command) => {
      const rows = await onDataDir(o.dataDir, (store) => store.operators.tokens());
      const out = rows.map((r) => ({
        id: r.id,
        name: r.name,
        prefix: r.prefix,
        createdAt: new Date(r.createdAt * 1000).toISOString(),
        revokedAt: r.revokedAt === undefined ? undefined : new Date(r.revokedAt * 1000).toISOString(),
      }));
      emit(
        wantsJson(cmd),
        { tokens: out },
        () =>
          out.map((t) => `${t.id}  ${t.prefix}…  ${t.name}${t.revokedAt ? "  revoked" : ""}`).join("\n") ||
          "(no operator tokens)",
      );
    });
  token
    .command("revoke <id>")
    .description("revoke an operator token: it stops working at once")
    .option(...DATA_DIR)
    .action(async (id: string, o: { dataDir?: string }, cmd: Command) => {
      const revoked = await onDataDir(o.dataDir, (store) =>
        store.operators.revokeToken(id, Math.floor(Date.now() / 1000)),
      );
      if (!revoked) throw new UsageError(`no live operator token ${id}`);
      emit(wantsJson(cmd), { revoked: id }, () => `revoked ${id}`);
    });
}

function orgJson(o: Org | undefined) {
  if (!o) return undefined;
  return {
    id: o.id,
    name: o.name,
    policyRevision: Number(o.policyRevision),
    createdAt: isoTime(o.createdAt),
  };
}

/** `operator orgs list|create`. */
function registerOrgs(operator: Command): void {
  const orgs = operator.command("orgs").description("the server's orgs");
  orgs
    .command("list")
    .description("list the server's orgs")
    .action(async (_o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const res = await clients.system.listOrgs({}, { headers: clients.operatorHeaders() });
      const out = res.orgs.map(orgJson);
      emit(json, { orgs: out }, () => out.map((o) => `${o?.id}  ${o?.name}`).join("\n") || "(no orgs)");
    });
  orgs
    .command("create <name>")
    .description("create an org; its API key and admin token are printed this once")
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const res = await clients.system.createOrg({ name }, { headers: clients.operatorHeaders() });
      const org = orgJson(res.org);
      emit(json, { orgId: org?.id, apiKey: res.apiKey, adminToken: res.adminToken }, () =>
        [
          `Created org ${org?.id}. These credentials are shown once; hand them to its admin:`,
          `  export TESSERA_API_KEY=${res.apiKey}`,
          `  export TESSERA_ADMIN_TOKEN=${res.adminToken}`,
        ].join("\n"),
      );
    });
}

/** `operator namespaces list|assign|unassign`: which identities each org may bind. */
function registerNamespaces(operator: Command): void {
  const ns = operator
    .command("namespaces")
    .description(
      "identity namespaces: spiffe://td/ (trust domain), spiffe://td/path/ (prefix), spiffe://td/path or cn:NAME (exact)",
    );
  ns.command("list")
    .description("list the assigned namespaces and their orgs")
    .option("--org <id>", "only this org's")
    .action(async (o: { org?: string }, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const res = await clients.system.listIdentityNamespaces(
        { orgId: o.org ?? "" },
        { headers: clients.operatorHeaders() },
      );
      const out = res.namespaces.map(namespaceJson);
      emit(
        json,
        { namespaces: out },
        () => out.map((n) => `${n.namespace}  ${n.orgId}`).join("\n") || "(no namespaces)",
      );
    });
  ns.command("assign <org> <namespace>")
    .description("let the org bind identities in the namespace (refused if it overlaps another org's)")
    .action(async (org: string, namespace: string, _o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const res = await clients.system.assignIdentityNamespace(
        { orgId: org, namespace },
        { headers: clients.operatorHeaders() },
      );
      const out = res.namespace ? namespaceJson(res.namespace) : undefined;
      emit(json, { namespace: out }, () => `${out?.namespace} assigned to ${out?.orgId}`);
    });
  ns.command("unassign <namespace>")
    .description("take the namespace back; the org's bindings in it are removed")
    .action(async (namespace: string, _o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const res = await clients.system.unassignIdentityNamespace(
        { namespace },
        { headers: clients.operatorHeaders() },
      );
      const removed = res.removed.map(identityJson);
      emit(json, { namespace: res.namespace?.namespace, removed }, () =>
        [`unassigned ${res.namespace?.namespace}`, ...removed.map((r) => `  unbound ${r.identity}`)].join(
          "\n",
        ),
      );
    });
}

/** `tessera operator …`: the server operator's commands, distinct from any org's. */
export function registerOperator(program: Command): void {
  const operator = topLevel(program, "operator");
  registerTokens(operator);
  registerOrgs(operator);
  const keys = operator.command("keys").description("the server's token signing keys");
  keys
    .command("list")
    .description("list the signing keys: next, active, retired")
    .action(async (_o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      printKeys(
        json,
        (await clients.system.listSigningKeys({}, { headers: clients.operatorHeaders() })).keys,
      );
    });
  withYes(keys.command("rotate").description("rotate the signing keys (at most once a minute)")).action(
    (_o: unknown, cmd: Command) => rotateSigningKeys(cmd),
  );
  registerNamespaces(operator);
}
