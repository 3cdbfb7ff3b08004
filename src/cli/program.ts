import { Command } from "commander";
import { addGlobalOptions } from "./common.js";
import { cliVersion } from "./version.js";

/**
 * The `tessera` program with its global options and no commands yet. Settings made here are
 * inherited by every command added later (help showing the global options, the error output).
 */
export function buildProgram(json = false): Command {
  const program = new Command("tessera")
    .description("Tessera: identity and policy decisions for agent meshes")
    .version(cliVersion(), "-v, --version", "print the CLI's version")
    .exitOverride()
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    // Under --json a usage mistake is reported once, as the JSON error shape (see runCli).
    .configureOutput(json ? { outputError: () => {} } : {})
    .showHelpAfterError(json ? false : "(add --help for usage)");
  addGlobalOptions(program);
  return program;
}
