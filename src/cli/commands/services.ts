import type { Command } from "commander";
import { clientsFor } from "../common.js";
import { emit } from "../output.js";

export function registerServices(program: Command): void {
  const services = program.command("services").description("mTLS identities that speak for the org");
  services
    .command("bind <identity>")
    .description(
      "let callers with this SPIFFE ID (or certificate CN) authorize for the org without an API key",
    )
    .action(async (identity: string, _o: unknown, cmd: Command) => {
      const { clients, json } = clientsFor(cmd);
      const res = await clients.admin.bindServiceIdentity({ identity }, { headers: clients.adminHeaders() });
      emit(
        json,
        { identity: res.identity, orgId: res.orgId },
        () => `${res.identity} now speaks for ${res.orgId}`,
      );
    });
}
