import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runScript } from "../helpers/run-script.js";
import { tempDir } from "../helpers/server.js";

const ROOT = process.cwd();
const script = (name: string) => join(ROOT, "scripts", name);
const tmp = tempDir("tessera-tool-");
afterAll(() => tmp.cleanup());

/** Runs a script as `node file …args` with only PATH, HOME (a temp dir) and `env`. */
const node = (file: string, args: string[], env: Record<string, string> = {}, cwd = ROOT) =>
  runScript(file, args, { home: tmp.dir, env, cwd });

/** No registry and no npm: any attempt to install fails. */
const OFFLINE = { npm_config_registry: "http://127.0.0.1:9", npm_execpath: "/nonexistent/npm-cli.js" };

describe("scripts/tool.mjs: development tools on first use, offline afterwards", () => {
  const tools = join(tmp.dir, "tools");
  const biome = join(tools, "biome");
  const exe = join(biome, "node_modules/@biomejs/biome/bin/biome");
  const stamp = () =>
    createHash("sha256")
      .update(readFileSync(script("tools/biome/package.json")))
      .update(readFileSync(script("tools/biome/package-lock.json")))
      .digest("hex");

  beforeAll(() => {
    mkdirSync(dirname(exe), { recursive: true });
    writeFileSync(exe, 'console.log("fake biome", process.argv.slice(2).join(" "));\n');
  });

  it("runs an installed copy whose stamp matches its pin, without npm or the network", async () => {
    writeFileSync(join(biome, ".installed"), stamp());
    const run = await node(script("tool.mjs"), ["biome", "check", "."], {
      ...OFFLINE,
      TESSERA_TOOLS_DIR: tools,
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe("fake biome check .");
  });

  it("reinstalls when the pin changed (here it cannot: no npm), and never runs the stale copy", async () => {
    writeFileSync(join(biome, ".installed"), "an older pin");
    const run = await node(script("tool.mjs"), ["biome", "--version"], {
      ...OFFLINE,
      TESSERA_TOOLS_DIR: tools,
    });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
  });

  it("refuses an unknown tool with a usage exit code", async () => {
    expect((await node(script("tool.mjs"), ["eslint"], OFFLINE)).code).toBe(2);
    expect((await node(script("tool.mjs"), [], OFFLINE)).code).toBe(2);
  });

  it("the real buf, once installed, answers with the network and npm out of reach", async () => {
    const install = await node(script("tool.mjs"), ["--install", "buf"], { ...process.env } as Record<
      string,
      string
    >);
    expect(install.code, install.stderr).toBe(0);
    const run = await node(script("tool.mjs"), ["buf", "--version"], OFFLINE);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe("1.74.0");
  }, 300_000);
});
