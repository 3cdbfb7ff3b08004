import type { Command } from "commander";
import type { IdentityNamespace, IdentitySource, ServiceIdentity } from "../../../gen/tessera/v1/types_pb.js";
import { clientsFor } from "../common.js";
import { isoTime } from "../format.js";
import { emit } from "../output.js";
import { topLevel } from "../registry.js";

// IdentitySource's wire numbers (UNSPECIFIED 0, SPIFFE 1, CN 2), spelled out so that defining
// these commands loads no gen/ (the enum is a value import).
const SPIFFE = 1 as IdentitySource;
const CN = 2 as IdentitySource;
const UNSPECIFIED = 0 as IdentitySource;

/** `spiffe` | `cn`, as the CLI prints a source. */
export function sourceName(s: IdentitySource): string {
  return s === SPIFFE ? "spiffe" : s === CN ? "cn" : "";
}

export function identityJson(i: ServiceIdentity) {
  return {
    source: sourceName(i.source),
    identity: i.identity,
    orgId: i.orgId,
    boundAt: isoTime(i.boundAt),
  };
}

export function namespaceJson(n: IdentityNamespace) {
  return {
    namespace: n.namespace,
    source: sourceName(n.source),
    prefix: n.prefix,
    orgId: n.orgId,
    assignedAt: isoTime(n.assignedAt),
  };
}

/** `--cn` forces a CN; otherwise the server reads `spiffe://…` as a SPIFFE ID and anything else as a CN. */
const sourceOf = (o: { cn?: boolean }) => (o.cn ? CN : UNSPECIFIED);

/** `tessera services bind|list|unbind`: the mTLS identities that speak for the org. */
export function registerServices(program: Command): void {
  const services = topLevel(program, "services");
  services
    .command("bind <identity>")
    .description(
      "let callers with this SPIFFE ID (or certificate CN) authorize for the org without an API key; it must lie in a namespace the operator assigned to the org",
    )
    .option("--cn", "the identity is a certificate common name")
    .action(async (identity: string, o: { cn?: boolean }, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const res = await clients.admin.bindServiceIdentity(
        { identity, source: sourceOf(o) },
        { headers: clients.adminHeaders() },
      );
      const source = sourceName(res.source);
      emit(
        json,
        { identity: res.identity, source, orgId: res.orgId },
        () => `${res.identity} (${source}) now speaks for ${res.orgId}`,
      );
    });
  services
    .command("list")
    .description("the org's bound identities and the namespaces it may bind in")
    .action(async (_o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const res = await clients.admin.listServiceIdentities({}, { headers: clients.adminHeaders() });
      const out = {
        identities: res.identities.map(identityJson),
        namespaces: res.namespaces.map(namespaceJson),
      };
      emit(
        json,
        out,
        () =>
          [
            ...out.identities.map((i) => `${i.identity}  ${i.source}  bound ${i.boundAt ?? "-"}`),
            ...out.namespaces.map((n) => `namespace ${n.namespace}`),
          ].join("\n") || "(no identities and no namespaces: ask the operator to assign one)",
      );
    });
  services
    .command("unbind <identity>")
    .description("remove a binding: callers with this identity no longer act for the org")
    .option("--cn", "the identity is a certificate common name")
    .action(async (identity: string, o: { cn?: boolean }, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      await clients.admin.unbindServiceIdentity(
        { identity, source: sourceOf(o) },
        { headers: clients.adminHeaders() },
      );
      emit(json, { unbound: identity }, () => `unbound ${identity}`);
    });
}
