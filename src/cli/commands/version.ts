import type { Command } from "commander";
import { wantsJson } from "../common.js";
import { emit } from "../output.js";
import { topLevel } from "../registry.js";
import { cliVersion } from "../version.js";

/** `tessera version` (also `-v`, `--version`): the CLI's version, from package.json. */
export function registerVersion(program: Command): void {
  topLevel(program, "version").action((_o: unknown, cmd: Command) => {
    const version = cliVersion();
    emit(wantsJson(cmd), { version, node: process.version }, () => version);
  });
}
