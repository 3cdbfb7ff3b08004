import { createInterface } from "node:readline";
import type { Command } from "commander";
import { CliError, EXIT, UsageError } from "./output.js";

/** Where a confirmation is asked: a terminal on both ends, or nowhere. */
export interface PromptIo {
  readonly input: NodeJS.ReadableStream & { readonly isTTY?: boolean };
  readonly output: NodeJS.WritableStream & { readonly isTTY?: boolean };
}

const STDIO: PromptIo = { input: process.stdin, output: process.stderr };

/** Adds `-y, --yes` to a destructive command. */
export function withYes(cmd: Command): Command {
  return cmd.option("-y, --yes", "do not ask for confirmation (needed when not on a terminal)");
}

function ask(io: PromptIo, question: string): Promise<string> {
  const rl = createInterface({ input: io.input, output: io.output, terminal: false });
  return new Promise((resolve) => {
    let answered = false;
    rl.once("line", (line) => {
      answered = true;
      rl.close();
      resolve(line);
    });
    rl.once("close", () => {
      if (!answered) resolve("");
    });
    io.output.write(question);
  });
}

/**
 * Goes on only if the user agrees to `what` (e.g. "rotate the org's API key and admin token"):
 * `--yes` agrees at once; on a terminal the user is asked; anywhere else (a script, a pipe) the
 * command is refused, exit 2, rather than doing something destructive nobody confirmed.
 */
export async function confirm(cmd: Command, what: string, io: PromptIo = STDIO): Promise<void> {
  if (cmd.opts<{ yes?: boolean }>().yes) return;
  if (!io.input.isTTY || !io.output.isTTY)
    throw new UsageError(`this would ${what}; pass --yes to confirm (there is no terminal to ask on)`);
  const answer = await ask(io, `This will ${what}. Continue? [y/N] `);
  if (!/^y(es)?$/i.test(answer.trim()))
    throw new CliError(
      { code: "Aborted", reason: "NOT_CONFIRMED", message: "nothing was changed" },
      EXIT.failed,
    );
}
