import { execFileSync } from "node:child_process";
import type { Command } from "commander";
import { beforeAll, describe, expect, it } from "vitest";
import { fishCompletion, zshCompletion } from "../../src/cli/completion.js";
import { buildProgram } from "../../src/cli/program.js";
import { COMMANDS, registerAll } from "../../src/cli/registry.js";

/** Every command below the program, with its path (`agents create`). */
function walk(cmd: Command, path: string[] = []): { path: string; cmd: Command }[] {
  return cmd.commands.flatMap((c) => {
    const p = [...path, c.name()];
    return [{ path: p.join(" "), cmd: c }, ...walk(c, p)];
  });
}

/** True when `shell` is installed here (zsh and fish often are not). */
function has(shell: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${shell}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("the tessera command tree", () => {
  let program: Command;
  beforeAll(async () => {
    program = buildProgram();
    await registerAll(program);
  });

  it("gives every command and subcommand a help line", () => {
    const all = walk(program);
    expect(all.length).toBeGreaterThan(60);
    expect(all.filter((c) => !c.cmd.description()).map((c) => c.path)).toEqual([]);
  });

  it("registers each top-level command of the table under its name, in table order", () => {
    expect(program.commands.map((c) => c.name())).toEqual(COMMANDS.map((e) => e.name));
    for (const e of COMMANDS.filter((x) => x.name !== "serve")) {
      expect(program.commands.find((c) => c.name() === e.name)?.description(), e.name).toBe(e.summary);
    }
  });

  it("shows the global options in a subcommand's help", () => {
    const create = walk(program).find((c) => c.path === "agents create")?.cmd;
    const help = create?.helpInformation() ?? "";
    expect(help).toContain("Global Options:");
    for (const flag of ["--server", "--api-key", "--admin-token", "--token", "--json"])
      expect(help).toContain(flag);
  });

  it("asks for --yes on every destructive command", () => {
    const destructive = [
      "org rotate-credentials",
      "keys rotate",
      "operator keys rotate",
      "agents delete",
      "policy delete",
    ];
    for (const path of destructive) {
      const cmd = walk(program).find((c) => c.path === path)?.cmd;
      expect(
        cmd?.options.map((o) => o.long),
        path,
      ).toContain("--yes");
    }
  });

  it("writes a fish script naming every command, and a zsh one built on the bash one", () => {
    const fish = fishCompletion(program);
    for (const { cmd } of walk(program)) expect(fish).toContain(`-a '${cmd.name()}'`);
    expect(fish).toContain("-l tier -x -a 'unverified verified trusted privileged'");
    const zsh = zshCompletion(program);
    expect(zsh.split("\n")[0]).toBe("#compdef tessera");
    expect(zsh).toContain("complete -o default -F _tessera tessera");
  });

  it.skipIf(!has("fish"))("writes a fish script fish accepts", () => {
    execFileSync("fish", ["--no-execute"], { input: fishCompletion(program) });
  });

  it.skipIf(!has("zsh"))("writes a zsh script zsh accepts", () => {
    execFileSync("zsh", ["-n"], { input: zshCompletion(program) });
  });
});
