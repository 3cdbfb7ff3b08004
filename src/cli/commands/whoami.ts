import type { Command } from "commander";
import type { Principal } from "../../../gen/tessera/v1/types_pb.js";
import { clientsFor } from "../common.js";
import { isoTime, tierName } from "../format.js";
import { emit } from "../output.js";
import { topLevel } from "../registry.js";

// PrincipalKind and AuthMethod as the proto names them, by wire number (index), lowercased:
// spelled out so that defining the command loads no gen/.
const KINDS = ["unspecified", "agent", "user", "service", "api_key"];
const METHODS = [
  "unspecified",
  "api_key",
  "admin_token",
  "token",
  "agent_secret",
  "client_assertion",
  "password",
  "mtls",
];

function principalJson(p: Principal) {
  return {
    id: p.id,
    kind: KINDS[p.kind] ?? String(p.kind),
    orgId: p.orgId,
    name: p.name,
    tier: tierName(p.tier),
    roles: p.roles,
    scopes: p.scopes,
    tags: p.tags,
    authMethod: METHODS[p.authMethod] ?? String(p.authMethod),
    expiresAt: isoTime(p.expiresAt),
  };
}

/** `tessera whoami`: the principal of the credential the CLI is configured with. */
export function registerWhoami(program: Command): void {
  topLevel(program, "whoami").action(async (_o: unknown, cmd: Command) => {
    const { clients, json } = await clientsFor(cmd);
    const res = await clients.auth.whoAmI({}, { headers: clients.ownHeaders() });
    if (!res.principal) throw new Error("the server returned no principal");
    const p = principalJson(res.principal);
    emit(json, p, () =>
      [
        `id       ${p.id}`,
        `kind     ${p.kind} (authenticated by ${p.authMethod})`,
        `org      ${p.orgId || "-"}`,
        ...(p.name && p.name !== p.orgId ? [`name     ${p.name}`] : []),
        `tier     ${p.tier}`,
        `roles    ${p.roles.join(", ") || "-"}`,
        `scopes   ${p.scopes.join(", ") || "-"}`,
        ...(p.expiresAt ? [`expires  ${p.expiresAt}`] : []),
      ].join("\n"),
    );
  });
}
