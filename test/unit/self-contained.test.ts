import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SKIP = new Set(["node_modules", "dist", ".git", "coverage", "data", "certs"]);
/** .ci/run names the shared folder only to prove the tests run without it. */
const ALLOWED = new Set([".ci/run"]);
// Built from parts so this file does not match itself.
const OUTSIDE = new RegExp(["\\.\\./", "shared", "|", "/work", "/shared"].join(""));

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name) || name.startsWith(".scratch")) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (statSync(path).size < 2_000_000) yield path;
  }
}

/** Issue #10: the repository is self-contained; nothing in it may read or point outside it. */
describe("the repository is self-contained", () => {
  it("has no file that points at the development machines' shared folder or checkout paths", () => {
    const offenders = [...files(ROOT)]
      .filter((f) => OUTSIDE.test(readFileSync(f, "utf8")))
      .map((f) => relative(ROOT, f))
      .filter((f) => !ALLOWED.has(f));
    expect(offenders).toEqual([]);
  });

  it("carries the corpora its tests need, with their licence", () => {
    const dir = join(ROOT, "test/fixtures/wycheproof");
    expect(readdirSync(dir).sort()).toEqual(["LICENSE", "README.md", "json_web_signature_test.json"]);
  });
});
