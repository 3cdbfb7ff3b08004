import { Command, CommanderError } from "commander";
import { registerAgents } from "./commands/agents.js";
import { registerCerts } from "./commands/certs.js";
import { registerCheck } from "./commands/check.js";
import { registerInit } from "./commands/init.js";
import { registerKeys } from "./commands/keys.js";
import { registerOperator } from "./commands/operator.js";
import { registerOrg } from "./commands/org.js";
import { registerPolicy } from "./commands/policy.js";
import { registerServe } from "./commands/serve.js";
import { registerServices } from "./commands/services.js";
import { registerSession } from "./commands/session.js";
import { registerStatus } from "./commands/status.js";
import { registerToken } from "./commands/token.js";
import { registerUsers } from "./commands/users.js";
import { addGlobalOptions } from "./common.js";
import { EXIT, reportError } from "./output.js";

/** The `tessera` command. */
export function buildProgram(): Command {
  const program = new Command("tessera")
    .description("Tessera: identity and policy decisions for agent meshes")
    .version("0.1.0")
    .exitOverride()
    .showHelpAfterError("(add --help for usage)");
  addGlobalOptions(program);
  registerServe(program);
  registerInit(program);
  registerAgents(program);
  registerToken(program);
  registerCheck(program);
  registerPolicy(program);
  registerServices(program);
  registerCerts(program);
  registerKeys(program);
  registerOrg(program);
  registerOperator(program);
  registerUsers(program);
  registerSession(program);
  registerStatus(program);
  return program;
}

/** Runs the CLI with `argv`; resolves to the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    return reportError(err, argv.includes("--json"));
  }
}
