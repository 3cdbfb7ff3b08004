import type { Command } from "commander";
import type { SigningKey } from "../../../gen/tessera/v1/types_pb.js";
import { clientsFor } from "../common.js";
import { confirm, withYes } from "../confirm.js";
import { isoTime } from "../format.js";
import { emit } from "../output.js";
import { topLevel } from "../registry.js";

/** A signing key as the CLI prints it in JSON (public facts only: the server sends nothing else). */
function keyJson(k: SigningKey) {
  return {
    kid: k.kid,
    alg: k.alg,
    state: k.state,
    createdAt: isoTime(k.createdAt),
    publishedUntil: isoTime(k.publishedUntil),
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

/** Rotates the server's signing keys with the operator token, once confirmed. */
export async function rotateSigningKeys(cmd: Command): Promise<void> {
  const { clients, json } = await clientsFor(cmd);
  const headers = clients.operatorHeaders();
  await confirm(cmd, "rotate the server's signing keys for every org (the active key retires)");
  printKeys(json, (await clients.system.rotateSigningKeys({}, { headers })).keys);
}

/** `tessera keys list|rotate`: the server's token signing keys (rotating is the operator's). */
export function registerKeys(program: Command): void {
  const keys = topLevel(program, "keys");
  keys
    .command("list")
    .description("list the signing keys: next (published, not yet signing), active, retired")
    .action(async (_o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const res = await clients.admin.listSigningKeys({}, { headers: clients.adminHeaders() });
      printKeys(json, res.keys);
    });
  withYes(
    keys
      .command("rotate")
      .description(
        "rotate (needs the operator token; at most once a minute): the published next key starts signing, the active one retires (published until its tokens expire), a new next key is published",
      ),
  ).action((_o: unknown, cmd: Command) => rotateSigningKeys(cmd));
}
