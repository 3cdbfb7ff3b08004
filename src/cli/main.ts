import { type Command, CommanderError } from "commander";
import { EXIT, reportError, UsageError } from "./output.js";
import { buildProgram } from "./program.js";
import { COMMANDS, register, topLevel } from "./registry.js";

/** The command words of argv (the program's own options and their values skipped). */
function commandWords(program: Command, args: readonly string[]): string[] {
  const words: string[] = [];
  for (let i = 0; i < args.length && words.length < 2; i++) {
    const arg = args[i] ?? "";
    if (arg === "--") break;
    if (!arg.startsWith("-") || arg === "-") {
      words.push(arg);
      continue;
    }
    const option = program.options.find((o) => o.long === arg || o.short === arg);
    // Mirrors commander: a required value is the next argument; an optional one unless it is an option.
    if (option?.required || (option?.optional && !(args[i + 1] ?? "-").startsWith("-"))) i++;
    if (words.length === 1) break; // an option of the command: its words are its own
  }
  return words;
}

/**
 * Registers what argv needs: the command it runs (or that `help` names), else every summary.
 * Resolves to the name of the command run, if it is one.
 */
async function prepare(program: Command, args: readonly string[]): Promise<string | undefined> {
  const [first, second] = commandWords(program, args);
  const name = first === "help" ? second : first;
  const entry = COMMANDS.find((e) => e.name === name);
  if (entry) {
    await register(program, [entry]);
    return first === "help" ? undefined : entry.name;
  }
  for (const e of COMMANDS) topLevel(program, e.name);
  return undefined;
}

let ran: string | undefined;

/** True when the command run was `serve` and it is up: the process must keep running. */
export async function keepsRunning(): Promise<boolean> {
  if (ran !== "serve") return false;
  return (await import("./commands/serve.js")).isServing();
}

/** Runs the CLI with `argv` (node, script, args…); resolves to the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const json = argv.includes("--json");
  try {
    const program = buildProgram(json);
    ran = await prepare(program, argv.slice(2));
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (!(err instanceof CommanderError)) return reportError(err, json);
    if (err.exitCode === 0 || err.code === "commander.helpDisplayed" || err.code === "commander.version")
      return EXIT.ok;
    // Without --json commander has printed the mistake (or the help, for no command) already.
    if (!json) return EXIT.usage;
    const message =
      err.code === "commander.help" ? "give a command (tessera --help lists them)" : err.message;
    return reportError(new UsageError(message.replace(/^error: /, "")), json);
  }
}
