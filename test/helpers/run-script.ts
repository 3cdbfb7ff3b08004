import { execFile } from "node:child_process";

export interface ScriptRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `node file …args` to completion with only PATH, a HOME of our choosing and `env` in its
 * environment (so the machine's TESSERA_* and npm settings never leak in), in `cwd`.
 */
export function runScript(
  file: string,
  args: string[],
  opts: { home: string; env?: Record<string, string>; cwd?: string; timeoutMs?: number },
): Promise<ScriptRun> {
  const env = { PATH: process.env.PATH ?? "", HOME: opts.home, ...opts.env };
  const options = { env, cwd: opts.cwd ?? process.cwd(), timeout: opts.timeoutMs ?? 60_000 };
  return new Promise((resolve) => {
    execFile(process.execPath, [file, ...args], options, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
    });
  });
}
