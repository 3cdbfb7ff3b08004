import { cpSync, mkdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runScript } from "../helpers/run-script.js";
import { tempDir } from "../helpers/server.js";

const ROOT = process.cwd();
const script = (name: string) => join(ROOT, "scripts", name);
const tmp = tempDir("tessera-start-");
afterAll(() => tmp.cleanup());

/** Runs a script as `node file …args` with only PATH, HOME (a temp dir) and `env`. */
const node = (file: string, args: string[], env: Record<string, string> = {}, cwd = ROOT) =>
  runScript(file, args, { home: tmp.dir, env, cwd });

/** A project tree with build.mjs and start.mjs, a stand-in CLI, and what each case adds. */
function project(name: string, opts: { dist?: boolean; typescript?: boolean; src?: boolean }): string {
  const dir = join(tmp.dir, name);
  mkdirSync(join(dir, "scripts"), { recursive: true });
  for (const f of ["build.mjs", "start.mjs"]) cpSync(script(f), join(dir, "scripts", f));
  writeFileSync(join(dir, "package.json"), '{"type":"module"}');
  mkdirSync(join(dir, "bin"));
  writeFileSync(join(dir, "bin/tessera.js"), "console.log(JSON.stringify(process.argv.slice(1)));\n");
  if (opts.src) {
    mkdirSync(join(dir, "src/cli"), { recursive: true });
    writeFileSync(join(dir, "src/cli/main.ts"), "export const built: number = 1;\n");
    const compilerOptions = {
      outDir: "dist",
      rootDir: ".",
      module: "NodeNext",
      types: [],
      skipLibCheck: true,
    };
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, include: ["src"] }));
  }
  if (opts.dist) {
    mkdirSync(join(dir, "dist/src/cli"), { recursive: true });
    writeFileSync(join(dir, "dist/src/cli/main.js"), "export const built = 0;\n");
  }
  if (opts.typescript) symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  return dir;
}

describe("npm start and prepare without TypeScript (a production install)", () => {
  it("start runs the built CLI as `serve` with the extra arguments, in this process", async () => {
    const dir = project("packed", { dist: true });
    const run = await node(join(dir, "scripts/start.mjs"), ["--grpc-port", "1"], {}, dir);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual([join(dir, "bin/tessera.js"), "serve", "--grpc-port", "1"]);
  });

  it("start refuses, running nothing, when there is neither dist/ nor TypeScript; prepare succeeds", async () => {
    const dir = project("empty", { src: true });
    const start = await node(join(dir, "scripts/start.mjs"), [], {}, dir);
    expect(start.code).toBe(1);
    expect(start.stdout).toBe("");
    expect((await node(join(dir, "scripts/build.mjs"), ["--prepare"], {}, dir)).code).toBe(0);
  });

  it("with TypeScript, builds only when dist/ is missing or older than its sources", async () => {
    const dir = project("dev", { src: true, typescript: true });
    const built = join(dir, "dist/src/cli/main.js");
    expect((await node(join(dir, "scripts/build.mjs"), ["--if-stale"], {}, dir)).code).toBe(0);
    expect(readFileSync(built, "utf8")).toContain("built = 1");
    const first = statSync(built).mtimeMs;
    expect((await node(join(dir, "scripts/build.mjs"), ["--if-stale"], {}, dir)).code).toBe(0);
    expect(statSync(built).mtimeMs).toBe(first); // current: not rebuilt
    writeFileSync(join(dir, "src/cli/main.ts"), "export const built: number = 2;\n");
    utimesSync(join(dir, "src/cli/main.ts"), new Date(first + 5000), new Date(first + 5000));
    expect((await node(join(dir, "scripts/build.mjs"), ["--if-stale"], {}, dir)).code).toBe(0);
    expect(readFileSync(built, "utf8")).toContain("built = 2");
  }, 60_000);
});
