import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../../config/config.js";
import { type Check, type CheckEnv, type Finding, finding } from "../check.js";

/** Permission bits for anyone but the owner. */
const OTHERS = 0o077;
/** How deep under the data directory files are looked at (it has no deep trees). */
const MAX_DEPTH = 3;

const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`;

/** The mode of `path`, or undefined when it does not exist. */
function modeOf(path: string): number | undefined {
  try {
    return statSync(path).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Every file and directory under `dir` (not `dir` itself) whose mode lets others in. */
function openToOthers(dir: string, depth: number): { path: string; mode: number }[] {
  const found: { path: string; mode: number }[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const mode = modeOf(path);
    if (mode === undefined) continue; // gone meanwhile (a -shm file), or a dangling link
    if ((mode & OTHERS) !== 0) found.push({ path, mode });
    if (entry.isDirectory() && depth < MAX_DEPTH) found.push(...openToOthers(path, depth + 1));
  }
  return found;
}

/** Unix file modes only: Windows has none to check. */
const onUnix = (env: CheckEnv, run: () => Finding[]): Finding[] => (env.platform === "win32" ? [] : run());

/** The data directory, and everything in it, is its owner's alone. */
export const dataDirPrivate: Check = {
  id: "data-dir-private",
  codes: ["PROD_DATA_DIR_MODE", "PROD_DATA_FILE_MODE"],
  title: "the data directory and its files are readable by their owner only",
  severity: "fatal",
  run: (config: Config, env) =>
    onUnix(env, () => {
      const mode = modeOf(config.dataDir);
      if (mode === undefined) return []; // created 0700 at the first start
      const found: Finding[] = [];
      if ((mode & OTHERS) !== 0)
        found.push(
          finding(
            "PROD_DATA_DIR_MODE",
            `the data directory ${config.dataDir} has mode ${octal(mode)}, open to other users: chmod 700 ${config.dataDir}`,
          ),
        );
      for (const f of openToOthers(config.dataDir, 1)) {
        found.push(
          finding(
            "PROD_DATA_FILE_MODE",
            `${f.path} has mode ${octal(f.mode)}, open to other users: chmod go-rwx ${f.path}`,
          ),
        );
      }
      return found;
    }),
};

/** Files holding secrets: the TLS private key, and the config file when it holds the master key. */
function keyFiles(config: Config, env: CheckEnv): { path: string; what: string }[] {
  const files: { path: string; what: string }[] = [];
  if (config.tls) files.push({ path: config.tls.keyFile, what: "the TLS private key (--tls-key)" });
  const origin = env.masterKeyOrigin;
  if (origin?.kind === "file")
    files.push({ path: origin.path, what: "the config file holding the master key" });
  return files;
}

/** Key files are their owner's alone. */
export const keyFilesPrivate: Check = {
  id: "key-files-private",
  codes: ["PROD_KEY_FILE_MODE"],
  title: "the TLS private key and a config file holding the master key are readable by their owner only",
  severity: "fatal",
  run: (config, env) =>
    onUnix(env, () =>
      keyFiles(config, env).flatMap(({ path, what }) => {
        const mode = modeOf(path);
        return mode !== undefined && (mode & OTHERS) !== 0
          ? [
              finding(
                "PROD_KEY_FILE_MODE",
                `${what}, ${path}, has mode ${octal(mode)}, open to other users: chmod 600 ${path}`,
              ),
            ]
          : [];
      }),
    ),
};
