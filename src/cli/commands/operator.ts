import type { Command } from "commander";
import type { Org } from "../../../gen/tessera/v1/system_service_pb.js";
import { clientsFor } from "../common.js";
import { withYes } from "../confirm.js";
import { isoTime } from "../format.js";
import { emit } from "../output.js";
import { topLevel } from "../registry.js";
import { printKeys, rotateSigningKeys } from "./keys.js";
import { registerTokens } from "./operator-tokens.js";
import { identityJson, namespaceJson } from "./services.js";

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
