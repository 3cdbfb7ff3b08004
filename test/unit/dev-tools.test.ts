import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");
const json = (path: string) => JSON.parse(read(path));
const pkg = json("package.json");
const lock = json("package-lock.json");

/** The development binaries (~250 MB) a user's `npm install` must not fetch (issue #10). */
const HEAVY = /^(@cerbos\/cerbos-|@bufbuild\/buf($|-)|@biomejs\/)/;
const TOOL_PINS = { biome: "2.5.15", buf: "1.74.0", cerbos: "0.55.0" };

describe("npm install fetches no development binaries (issue #10)", () => {
  it("lists none of biome, buf or the Cerbos binary as a dependency of any kind", () => {
    const deps = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies, ...pkg.optionalDependencies });
    expect(deps.filter((d) => HEAVY.test(d))).toEqual([]);
  });

  it("has none of them in the lockfile, so npm ci cannot fetch them either", () => {
    const paths = Object.keys(lock.packages).map((p) => p.replace(/^.*node_modules\//, ""));
    expect(paths.filter((p) => HEAVY.test(p))).toEqual([]);
  });

  it("runs every tool through scripts/tool.mjs, never from node_modules/.bin or npx", () => {
    for (const name of ["lint", "format", "generate", "buf"])
      expect(pkg.scripts[name]).toMatch(/scripts\/tool\.mjs/);
    const users = [
      ".ci/run",
      "scripts/check-generated.sh",
      "README.md",
      "CONTRIBUTING.md",
      "bench/targets/cerbos.mjs",
    ];
    const direct = /npx (--no-install )?(buf|biome)\b|\.bin\/(buf|biome)|require\.resolve\("@cerbos/;
    expect(users.filter((f) => direct.test(read(f)))).toEqual([]);
  });
});

describe("the development tools are pinned exactly, with integrity hashes", () => {
  it.each(Object.entries(TOOL_PINS))("%s %s", (tool, version) => {
    const manifest = json(`scripts/tools/${tool}/package.json`);
    const pins = { ...manifest.dependencies, ...manifest.optionalDependencies };
    expect(Object.values(pins)).toEqual([version]);
    const locked = json(`scripts/tools/${tool}/package-lock.json`);
    expect(locked.packages[""].dependencies ?? locked.packages[""].optionalDependencies).toEqual(
      manifest.dependencies ?? manifest.optionalDependencies,
    );
    for (const [path, entry] of Object.entries<{ version: string; integrity?: string }>(locked.packages)) {
      if (path === "") continue;
      expect(entry.version, path).toBe(version);
      expect(entry.integrity, path).toMatch(/^sha512-/);
    }
  });
});

it("every tool has a manifest and a lockfile", () => {
  expect(readdirSync(join(ROOT, "scripts/tools")).sort()).toEqual(Object.keys(TOOL_PINS).sort());
});
