import { readFileSync } from "node:fs";

let cached: string | undefined;

/**
 * Tessera's version, from its package.json: beside src/ when run from the sources (tests),
 * beside dist/ when built. "unknown" if neither can be read.
 */
export function tesseraVersion(): string {
  if (cached !== undefined) return cached;
  cached = "unknown";
  for (const path of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8")) as Record<string, unknown>;
      if (pkg.name === "tessera" && typeof pkg.version === "string") {
        cached = pkg.version;
        break;
      }
    } catch {
      // Not there: try the next place.
    }
  }
  return cached;
}
