import { readdirSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * Keeps the layering of STYLE.md true: only the wire layers import gen/, the decision logic
 * does no I/O and depends on nothing above it, and only config/ reads the environment.
 */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SRC = join(ROOT, "src");

interface SourceFile {
  /** Repo-relative path, e.g. `src/engine/decide.ts`. */
  readonly path: string;
  readonly text: string;
  /** Every module specifier: static, re-exported, side-effect and dynamic imports. */
  readonly specifiers: readonly string[];
}

const SPECIFIER = /\b(?:import|export)\s[^;]*?\bfrom\s*["']([^"']+)["']|\bimport\s*\(?\s*["']([^"']+)["']/g;

/** Import specifiers in `text` (comments removed first, so prose cannot count as an import). */
function specifiersIn(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
  return [...code.matchAll(SPECIFIER)].map((m) => m[1] ?? m[2] ?? "");
}

/** True when `text` reads the process environment in any usual spelling. */
function readsEnv(text: string): boolean {
  return /\bprocess\s*(?:\?\.|\.)\s*env\b|\bprocess\s*\[\s*["'`]env["'`]\s*\]|\{[^}]*\benv\b[^}]*\}\s*=\s*process\b/.test(
    text,
  );
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

const files: SourceFile[] = walk(SRC).map((abs) => {
  const text = readFileSync(abs, "utf8");
  return { path: relative(ROOT, abs).split("\\").join("/"), text, specifiers: specifiersIn(text) };
});

/** Where a relative specifier points, repo-relative; bare specifiers are returned unchanged. */
function target(file: SourceFile, spec: string): string {
  if (!spec.startsWith(".")) return spec;
  return relative(ROOT, resolve(dirname(join(ROOT, file.path)), spec))
    .split("\\")
    .join("/");
}

const NODE_BUILTINS = new Set(builtinModules);
const isBuiltin = (spec: string) => spec.startsWith("node:") || NODE_BUILTINS.has(spec.split("/")[0] ?? "");

/** Each `file → target` edge matching `bad`, as readable strings for a clear failure. */
function edges(inFiles: (f: SourceFile) => boolean, bad: (t: string) => boolean): string[] {
  return files
    .filter(inFiles)
    .flatMap((f) => f.specifiers.map((s) => [f.path, target(f, s)] as const))
    .filter(([, t]) => bad(t))
    .map(([f, t]) => `${f} → ${t}`);
}

describe("the import scanner", () => {
  it("sees the source tree", () => {
    expect(files.length).toBeGreaterThan(40);
    expect(files.some((f) => f.path === "src/engine/decide.ts")).toBe(true);
  });

  it("finds every import form and ignores comments", () => {
    const sample = [
      'import { a } from "./a.js";',
      'import type {\n  B,\n} from "../b.js";',
      'export { c } from "./c.js";',
      'import "./d.js";',
      'const e = await import("./e.js");',
      '// import { x } from "./commented.js";',
      '/* import { y } from "./block.js"; */',
    ].join("\n");
    expect(specifiersIn(sample)).toEqual(["./a.js", "../b.js", "./c.js", "./d.js", "./e.js"]);
  });

  it("recognises environment reads", () => {
    for (const yes of [
      "process.env.X",
      "process.env",
      'process["env"]',
      "process?.env",
      "const { env } = process",
    ]) {
      expect(readsEnv(yes), yes).toBe(true);
    }
    expect(readsEnv("const environment = processEnv;")).toBe(false);
  });

  it("resolves a real gen/ import", () => {
    expect(
      edges(
        (f) => f.path.startsWith("src/rpc/"),
        (t) => t.startsWith("gen/"),
      ).length,
    ).toBeGreaterThan(0);
  });
});

describe("layering (STYLE.md)", () => {
  it("only src/rpc, src/transport and src/cli import gen/", () => {
    const allowed = (f: SourceFile) => /^src\/(rpc|transport|cli)\//.test(f.path);
    expect(
      edges(
        (f) => !allowed(f),
        (t) => t === "gen" || t.startsWith("gen/"),
      ),
    ).toEqual([]);
  });

  it("src/engine and src/domain import nothing from node:*, gen/, store/, auth/, rpc/, transport/ or above", () => {
    const pure = (f: SourceFile) => /^src\/(engine|domain)\//.test(f.path);
    const forbidden = (t: string) =>
      isBuiltin(t) ||
      /^(gen|src\/(store|auth|rpc|transport|cli|core|config))(\/|$)/.test(t) ||
      /^src\/(main|log)(\.js|\.ts)?$/.test(t);
    expect(edges(pure, forbidden)).toEqual([]);
  });

  it("src/domain imports nothing from the rest of src/", () => {
    const inDomain = (f: SourceFile) => f.path.startsWith("src/domain/");
    expect(edges(inDomain, (t) => t.startsWith("src/") && !t.startsWith("src/domain/"))).toEqual([]);
  });

  it("only src/observe/metrics.ts imports prom-client", () => {
    expect(
      edges(
        (f) => f.path !== "src/observe/metrics.ts",
        (t) => t === "prom-client" || t.startsWith("prom-client/"),
      ),
    ).toEqual([]);
  });

  it("src/observe is used only above core (core, auth, audit, store, engine and domain expose stats() instead)", () => {
    const below = (f: SourceFile) => /^src\/(core|auth|audit|store|engine|domain)\//.test(f.path);
    expect(edges(below, (t) => t.startsWith("src/observe/"))).toEqual([]);
  });

  it("src/observe imports nothing from transport, rpc, cli or store", () => {
    const inObserve = (f: SourceFile) => f.path.startsWith("src/observe/");
    expect(edges(inObserve, (t) => /^src\/(transport|rpc|cli|store)\//.test(t))).toEqual([]);
  });

  it("src/ops (the production checklist) sits under the CLI: it imports no wire layer, and nothing but src/cli imports it", () => {
    const inOps = (f: SourceFile) => f.path.startsWith("src/ops/");
    expect(edges(inOps, (t) => /^(gen|src\/(rpc|transport|cli))(\/|$)/.test(t))).toEqual([]);
    const outside = (f: SourceFile) => !/^src\/(ops|cli)\//.test(f.path);
    expect(edges(outside, (t) => t.startsWith("src/ops/"))).toEqual([]);
  });

  it("only src/config reads process.env", () => {
    const offenders = files
      .filter((f) => !f.path.startsWith("src/config/") && readsEnv(f.text))
      .map((f) => f.path);
    expect(offenders).toEqual([]);
  });
});
