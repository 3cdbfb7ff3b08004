// The bench's side of bench/loop-probe.cjs: the environment that preloads the probe into a
// target's processes, the start of a measurement window, and the figures of that window.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const PROBE = fileURLToPath(new URL("./loop-probe.cjs", import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The environment that preloads the probe into every process of a target started with it (a
 * cluster's workers inherit it): its figures go to `dir`, one <pid>.json per process.
 */
export function probeEnv(dir) {
  mkdirSync(dir, { recursive: true });
  const quoted = /[\s"\\]/.test(PROBE) ? JSON.stringify(PROBE) : PROBE;
  const before = process.env.NODE_OPTIONS ? `${process.env.NODE_OPTIONS} ` : "";
  return { NODE_OPTIONS: `${before}--require ${quoted}`, TESSERA_LOOP_PROBE_DIR: dir };
}

function readOne(dir, pid) {
  try {
    return JSON.parse(readFileSync(join(dir, `${pid}.json`), "utf8"));
  } catch {
    return undefined; // not written yet (or being replaced: the probe renames, so rarely)
  }
}

let windows = 0;

/**
 * Starts a new measurement window in every probed process of `dir` and waits until each of
 * `pids` has taken it (the probe looks every 500 ms). Resolves the window's id.
 */
export async function resetProbe(dir, pids, { timeoutMs = 5_000 } = {}) {
  const id = `${process.pid}-${++windows}-${Date.now()}`;
  writeFileSync(join(dir, "window"), `${id}\n`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const behind = pids.filter((pid) => readOne(dir, pid)?.window !== id);
    if (!behind.length) return id;
    if (Date.now() > deadline)
      throw new Error(
        `loop probe: process(es) ${behind.join(", ")} did not start window ${id} (probe not loaded?)`,
      );
    await sleep(50);
  }
}

/**
 * The figures of the current window for each of `pids`, written after this call (so they cover
 * the window up to now): { [pid]: { maxPauseMs, over10, over50, ticks, seconds, gc, eldMaxMs, … } }.
 * `gc` holds, by kind (scavenge, markCompact, incremental, weakCallbacks), count, totalMs, maxMs.
 */
export async function readProbe(dir, pids, { timeoutMs = 5_000 } = {}) {
  const windowFile = join(dir, "window");
  const id = existsSync(windowFile) ? readFileSync(windowFile, "utf8").trim() : null;
  const asked = Date.now();
  const deadline = asked + timeoutMs;
  const out = {};
  for (;;) {
    for (const pid of pids) {
      const f = readOne(dir, pid);
      if (f && f.writtenAt >= asked && f.window === id)
        out[pid] = { ...f, seconds: (f.writtenAt - f.since) / 1000 };
    }
    const behind = pids.filter((pid) => !out[pid]);
    if (!behind.length) return out;
    if (Date.now() > deadline)
      throw new Error(`loop probe: no fresh figures of window ${id} from process(es) ${behind.join(", ")}`);
    await sleep(50);
  }
}

/**
 * The longest pause of any process in `figures` (readProbe's answer), whose it was and the CPU
 * its process spent meanwhile, and the counts over 10 and 50 ms summed over the processes.
 */
export function longestPause(figures) {
  let worst = { pid: undefined, maxPauseMs: 0, over10: 0, over50: 0 };
  for (const f of Object.values(figures)) {
    worst.over10 += f.over10;
    worst.over50 += f.over50;
    if (f.maxPauseMs >= worst.maxPauseMs)
      worst = { ...worst, pid: f.pid, maxPauseMs: f.maxPauseMs, maxPauseCpuMs: f.maxPauseCpuMs };
  }
  return worst;
}
