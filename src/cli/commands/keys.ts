import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Command } from "commander";
import type { SigningKey } from "../../../gen/tessera/v1/types_pb.js";
import { clientsFor } from "../common.js";
import { emit } from "../output.js";

/** A signing key as the CLI prints it in JSON (public facts only: the server sends nothing else). */
function keyJson(k: SigningKey) {
  return {
    kid: k.kid,
    alg: k.alg,
    state: k.state,
    createdAt: k.createdAt ? timestampDate(k.createdAt).toISOString() : undefined,
    publishedUntil: k.publishedUntil ? timestampDate(k.publishedUntil).toISOString() : undefined,
  };
}

function keyLine(k: SigningKey): string {
  const j = keyJson(k);
  const until = j.publishedUntil ? `  published until ${j.publishedUntil}` : "";
  return `${j.kid}  ${j.alg}  ${j.state.padEnd(7)}  created ${j.createdAt ?? "-"}${until}`;
}

/** Prints signing keys as JSON or one line each. */
export function printKeys(json: boolean, keys: SigningKey[]): void {
  emit(json, { keys: keys.map(keyJson) }, () => keys.map(keyLine).join("\n") || "(no keys)");
}

/** `tessera keys list|rotate`: the server's token signing keys (rotating is the operator's). */
export function registerKeys(program: Command): void {
  const keys = program.command("keys").description("the server's token signing keys");
  keys
    .command("list")
    .description("list the signing keys: next (published, not yet signing), active, retired")
    .action(async (_o: unknown, cmd: Command) => {
      const { clients, json } = clientsFor(cmd);
      const res = await clients.admin.listSigningKeys({}, { headers: clients.adminHeaders() });
      printKeys(json, res.keys);
    });
  keys
    .command("rotate")
    .description(
      "rotate (needs the operator token; at most once a minute): the published next key starts signing, the active one retires (published until its tokens expire), a new next key is published",
    )
    .action(async (_o: unknown, cmd: Command) => {
      const { clients, json } = clientsFor(cmd);
      const res = await clients.system.rotateSigningKeys({}, { headers: clients.operatorHeaders() });
      printKeys(json, res.keys);
    });
}
