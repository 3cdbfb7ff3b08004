import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The `version` of the nearest package.json above `dir` that names the `tessera` package. */
function findVersion(dir: string): string {
  for (let up = 0; up < 5; up++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "tessera" && pkg.version) return pkg.version;
    } catch {
      // No package.json here: look one level up.
    }
  }
  return "unknown";
}

let cached: string | undefined;

/**
 * The version in the project's package.json, read once (never written here by hand): found
 * above src/cli/ when run from source, above dist/src/cli/ when built.
 */
export function cliVersion(): string {
  cached ??= findVersion(dirname(fileURLToPath(import.meta.url)));
  return cached;
}
