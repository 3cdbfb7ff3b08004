#!/usr/bin/env node
// Development tools that a user's `npm install` must not fetch (~250 MB of platform binaries):
// biome, buf and the Cerbos binary of the benchmark. Each is pinned, with its integrity hashes,
// by scripts/tools/<name>/package-lock.json, installed from the npm registry on first use into
// node_modules/.cache/tessera-tools/<name>, and run from there afterwards without the network.
//
//   node scripts/tool.mjs <biome|buf|cerbos> [args…]   run the tool (installing it first if needed)
//   node scripts/tool.mjs --install <name…>             only install
//   node scripts/tool.mjs --path <name>                 print the tool's executable
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MANIFESTS = join(ROOT, "scripts", "tools");

/** Where each tool's executable lives inside its install, and whether node runs it (a JS shim). */
export const TOOLS = {
  biome: { exe: "node_modules/@biomejs/biome/bin/biome", node: true },
  buf: { exe: "node_modules/@bufbuild/buf/bin/buf", node: true },
  cerbos: { exe: "node_modules/@cerbos/cerbos-linux-x64/cerbos-linux-x64", node: false },
};

/** The folder the tools are installed into (TESSERA_TOOLS_DIR overrides it; node_modules is git-ignored). */
export function toolsDir() {
  return resolve(process.env.TESSERA_TOOLS_DIR || join(ROOT, "node_modules", ".cache", "tessera-tools"));
}

function spec(name) {
  if (!Object.hasOwn(TOOLS, name)) {
    throw new Error(`unknown tool "${name}" (known: ${Object.keys(TOOLS).join(", ")})`);
  }
  return TOOLS[name];
}

/** A digest of the tool's manifest and lockfile: an install is current when its stamp matches. */
function wanted(name) {
  const hash = createHash("sha256");
  for (const file of ["package.json", "package-lock.json"])
    hash.update(readFileSync(join(MANIFESTS, name, file)));
  return hash.digest("hex");
}

function isCurrent(dir, name) {
  const stamp = join(dir, ".installed");
  return (
    existsSync(stamp) && readFileSync(stamp, "utf8") === wanted(name) && existsSync(join(dir, spec(name).exe))
  );
}

/** npm itself: the one running this script when there is one (npm run …), else the one on PATH. */
function npmCommand() {
  const cli = process.env.npm_execpath;
  return cli?.endsWith(".js") ? [process.execPath, cli] : [process.platform === "win32" ? "npm.cmd" : "npm"];
}

/** Installs into a fresh folder, then renames it into place, so a half-done install is never used. */
function install(name, dir) {
  const manifest = JSON.parse(readFileSync(join(MANIFESTS, name, "package.json"), "utf8"));
  const pins = Object.entries({ ...manifest.dependencies, ...manifest.optionalDependencies });
  const what = pins.map(([pkg, version]) => `${pkg}@${version}`).join(" ");
  process.stderr.write(`tool: installing ${what} into ${dir} (first use)\n`);
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = mkdtempSync(`${dir}.installing-`);
  try {
    for (const file of ["package.json", "package-lock.json"])
      copyFileSync(join(MANIFESTS, name, file), join(tmp, file));
    const [cmd, ...pre] = npmCommand();
    // --ignore-scripts: the JS shims find their platform binary without any install script.
    const args = [...pre, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"];
    // npm's output goes to stderr, so a tool's stdout stays the tool's.
    const r = spawnSync(cmd, args, { cwd: tmp, stdio: ["ignore", 2, 2] });
    if (r.status !== 0) throw new Error(`installing ${name} failed (npm ci exited ${r.status ?? r.signal})`);
    if (!existsSync(join(tmp, spec(name).exe))) {
      throw new Error(`${name} has no build for ${process.platform}-${process.arch} on the npm registry`);
    }
    writeFileSync(join(tmp, ".installed"), wanted(name));
    if (isCurrent(dir, name)) return; // another process finished the same install meanwhile
    rmSync(dir, { recursive: true, force: true });
    try {
      renameSync(tmp, dir);
    } catch (err) {
      // Another process installed it at the same moment: use theirs.
      if (!isCurrent(dir, name)) throw err;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * The executable of tool `name`, installed first if it is missing or its pin changed.
 * Synchronous, so callers (the benchmark, scripts) can use it anywhere.
 */
export function ensureTool(name) {
  const { exe, node } = spec(name);
  const dir = join(toolsDir(), name);
  if (!isCurrent(dir, name)) install(name, dir);
  const path = join(dir, exe);
  if (!node) chmodSync(path, 0o755);
  return { path, command: node ? [process.execPath, path] : [path] };
}

/** Runs tool `name` with `args`, inheriting stdio; returns its exit code. */
export function runTool(name, args) {
  const [cmd, ...pre] = ensureTool(name).command;
  const r = spawnSync(cmd, [...pre, ...args], { stdio: "inherit" });
  if (r.error) throw r.error;
  if (r.signal) process.kill(process.pid, r.signal);
  return r.status ?? 1;
}

function main(argv) {
  const [first, ...rest] = argv;
  if (!first || first === "--help" || first === "-h") {
    process.stderr.write(
      `usage: node scripts/tool.mjs <${Object.keys(TOOLS).join("|")}> [args…] | --install <name…> | --path <name>\n`,
    );
    return first ? 0 : 2;
  }
  if (first === "--install") {
    for (const name of rest) ensureTool(name);
    return 0;
  }
  if (first === "--path") {
    process.stdout.write(`${ensureTool(rest[0] ?? "").path}\n`);
    return 0;
  }
  return runTool(first, rest);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`tool: ${err.message}\n`);
    process.exitCode = 2;
  }
}
