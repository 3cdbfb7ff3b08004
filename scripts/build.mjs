#!/usr/bin/env node
// Builds dist/ with TypeScript when TypeScript is installed. A production install
// (`npm ci --omit=dev`) has no TypeScript: it runs the dist/ that was built before packing.
//
//   node scripts/build.mjs --prepare    npm's `prepare`: build if TypeScript is there, else succeed
//   node scripts/build.mjs --if-stale   build only if dist/ is missing or older than its sources
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** What tsc compiles (tsconfig.json: src and gen) and the file that says it was compiled. */
const SOURCES = ["src", "gen", "tsconfig.json"];
export const BUILT = join("dist", "src", "cli", "main.js");

/** The TypeScript compiler's script, or undefined when TypeScript is not installed. */
export function typescriptCompiler(root = ROOT) {
  try {
    return createRequire(join(root, "package.json")).resolve("typescript/bin/tsc");
  } catch {
    return undefined;
  }
}

function newestMtime(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

/**
 * What `npm start` must do before serving: "run" (dist/ is current, or there are no sources to
 * build it from, as in a packed install), "build", or "missing" (no dist/ and no TypeScript).
 */
export function startPlan(root = ROOT) {
  const built = join(root, BUILT);
  const sources = SOURCES.map((s) => join(root, s)).filter((p) => existsSync(p));
  const canBuild = sources.length > 0 && typescriptCompiler(root) !== undefined;
  if (!existsSync(built)) return canBuild ? "build" : "missing";
  if (!canBuild) return "run";
  const stale = Math.max(...sources.map(newestMtime)) > statSync(built).mtimeMs;
  return stale ? "build" : "run";
}

/** Runs tsc on the project; returns its exit code. */
export function build(root = ROOT) {
  const tsc = typescriptCompiler(root);
  if (!tsc) throw new Error("TypeScript is not installed");
  const r = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.json")], {
    cwd: root,
    stdio: "inherit",
  });
  return r.status ?? 1;
}

const MISSING =
  "dist/ is not built and TypeScript is not installed (a production install): build it where the " +
  "dev dependencies are (`npm install && npm run build`), or install from a package that carries dist/.";

/** npm's prepare: a development install builds; a production install keeps the dist/ it has. */
function prepare(root) {
  if (typescriptCompiler(root)) return build(root);
  if (!existsSync(join(root, BUILT))) process.stderr.write(`prepare: ${MISSING}\n`);
  return 0;
}

/** Builds when it can and must; returns an exit code (0: dist/ is ready to run). */
export function buildIfStale(root = ROOT) {
  const plan = startPlan(root);
  if (plan === "missing") {
    process.stderr.write(`tessera: ${MISSING}\n`);
    return 1;
  }
  return plan === "build" ? build(root) : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const mode = process.argv[2];
  if (mode === "--prepare") process.exitCode = prepare(ROOT);
  else if (mode === "--if-stale") process.exitCode = buildIfStale(ROOT);
  else {
    process.stderr.write("usage: node scripts/build.mjs --prepare | --if-stale\n");
    process.exitCode = 2;
  }
}
