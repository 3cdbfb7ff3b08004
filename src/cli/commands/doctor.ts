import type { Command } from "commander";
import { wantsJson } from "../common.js";
import { EXIT, emit } from "../output.js";
import { topLevel } from "../registry.js";
import { addSettingFlags } from "./serve-options.js";

/**
 * `tessera doctor`: the production checklist for the configuration `serve` would run with (the
 * same flags, variables and config file), starting nothing. Exits 1 when a check fails, which
 * only happens in production mode (`--mode production`, TESSERA_MODE or `mode:` in the file).
 */
export function registerDoctor(program: Command): void {
  const doctor = topLevel(program, "doctor");
  const settingsOf = addSettingFlags(doctor);
  doctor.addHelpText(
    "after",
    "\nTakes every setting `tessera serve` takes (docs/config.md); `serve --mode production` refuses to start unless every check passes.",
  );
  doctor.action(async (o: Record<string, unknown>, cmd: Command) => {
    // The config and the checks load only when doctor runs, not when the CLI starts.
    const [{ loadConfig }, { runChecklist, formatChecklist }, { checkEnvOf }] = await Promise.all([
      import("../../config/config.js"),
      import("../../ops/doctor.js"),
      import("../../ops/production.js"),
    ]);
    const flags = settingsOf(o);
    const list = runChecklist(loadConfig(flags), checkEnvOf(flags));
    emit(wantsJson(cmd), list, () => formatChecklist(list));
    if (!list.ok) process.exitCode = EXIT.failed;
  });
}
