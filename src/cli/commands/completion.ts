import { Argument, type Command } from "commander";
import { bashCompletion, fishCompletion, zshCompletion } from "../completion.js";
import { buildProgram } from "../program.js";
import { registerAll, topLevel } from "../registry.js";

const SHELLS = { bash: bashCompletion, zsh: zshCompletion, fish: fishCompletion } as const;

/** `tessera completion bash|zsh|fish`: a script generated from the commands themselves. */
export function registerCompletion(program: Command): void {
  topLevel(program, "completion")
    .addArgument(new Argument("<shell>", "the shell to complete in").choices(Object.keys(SHELLS)))
    .addHelpText(
      "after",
      [
        "",
        "Load it in the current shell, or from your shell's startup file:",
        "  bash: source <(tessera completion bash)",
        "  zsh:  source <(tessera completion zsh)",
        "  fish: tessera completion fish | source",
      ].join("\n"),
    )
    .action(async (shell: keyof typeof SHELLS) => {
      // Completion walks every command, so every module is loaded (only here), in help order.
      const full = buildProgram();
      await registerAll(full);
      process.stdout.write(SHELLS[shell](full));
    });
}
