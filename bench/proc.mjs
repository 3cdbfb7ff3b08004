// Child processes for the benchmark: each in its own process group, every one tracked, so a
// failure, a timeout or Ctrl-C stops them all (and their cluster workers) and leaves nothing behind.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";

const live = new Set();

/** Starts a long-running process in its own group; keeps the tail of its output for error messages. */
export function start(name, cmd, args, opts = {}) {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const proc = { name, child, pid: child.pid, out: "", exited: false, code: null };
  const keep = (chunk) => {
    proc.out = (proc.out + chunk.toString()).slice(-64 * 1024);
    opts.onOutput?.(proc.out);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  proc.done = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      proc.exited = true;
      proc.code = code ?? signal;
      live.delete(proc);
      resolve(proc.code);
    });
    child.on("error", (err) => {
      proc.exited = true;
      proc.code = String(err);
      live.delete(proc);
      resolve(proc.code);
    });
  });
  live.add(proc);
  return proc;
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** SIGTERM to the process group, SIGKILL if it has not exited within `graceMs`. */
export async function stop(proc, graceMs = 5000) {
  if (!proc || proc.exited) return;
  killGroup(proc.pid, "SIGTERM");
  const timer = new Promise((r) => setTimeout(r, graceMs));
  if ((await Promise.race([proc.done.then(() => "exited"), timer])) !== "exited") {
    killGroup(proc.pid, "SIGKILL");
    await Promise.race([proc.done, new Promise((r) => setTimeout(r, 1000))]);
  }
  killGroup(proc.pid, "SIGKILL"); // cluster workers that outlived their primary
}

/**
 * Stops every process group we started except `keep` (SIGSTOP), so a measurement has the
 * machine to itself: the idle targets' timers, GC and threads would otherwise share its two
 * cores with the one being measured. Returns a function that resumes them (SIGCONT).
 */
export function pauseAllBut(keep) {
  const paused = [...live].filter((p) => !keep.includes(p) && !p.exited);
  for (const p of paused) killGroup(p.pid, "SIGSTOP");
  return () => {
    for (const p of paused) killGroup(p.pid, "SIGCONT");
  };
}

/** Resumes every group (before stopping them: a stopped process cannot act on SIGTERM). */
export function resumeAll() {
  for (const p of live) killGroup(p.pid, "SIGCONT");
}

export async function stopAll() {
  resumeAll();
  await Promise.all([...live].map((p) => stop(p)));
}

/** Last resort when the process is exiting anyway: kill every group we started, synchronously. */
export function killAllNow() {
  for (const p of live) killGroup(p.pid, "SIGKILL");
}

/** Runs a command to completion with a time limit; resolves { code, stdout, stderr }. */
export function run(cmd, args, { timeoutMs = 60_000, env, cwd, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
      detached: true,
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const proc = { name: cmd, child, pid: child.pid, exited: false };
    proc.done = new Promise((r) => child.on("exit", r));
    live.add(proc);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => {
      stdout += c;
    });
    child.stderr.on("data", (c) => {
      stderr += c;
    });
    if (input !== undefined) child.stdin.end(input);
    const timer = setTimeout(() => {
      killGroup(child.pid, "SIGKILL");
      reject(
        new Error(`${cmd} ${args.join(" ")} timed out after ${timeoutMs / 1000}s\n${stderr.slice(-2000)}`),
      );
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      live.delete(proc);
      reject(err);
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      proc.exited = true;
      live.delete(proc);
      resolve({ code: code ?? signal, stdout, stderr });
    });
  });
}

/** Like run, but throws with the output when the exit code is not 0. */
export async function runOk(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0)
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}:\n${r.stderr}${r.stdout}`.trim());
  return r;
}

/** `count` distinct free loopback ports (all held open until every one is chosen). */
export async function freePorts(count) {
  const servers = [];
  for (let i = 0; i < count; i++) {
    const s = net.createServer();
    await new Promise((resolve, reject) => {
      s.once("error", reject);
      s.listen(0, "127.0.0.1", resolve);
    });
    servers.push(s);
  }
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Retries `fn` until it returns a truthy value; fails early if `proc` exits, or after `timeoutMs`. */
export async function waitFor(what, fn, { timeoutMs = 30_000, intervalMs = 100, proc } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  for (;;) {
    if (proc?.exited)
      throw new Error(`${proc.name} exited (${proc.code}) while waiting for ${what}:\n${proc.out}`);
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      const tail = proc ? `\n--- ${proc.name} output ---\n${proc.out.slice(-4000)}` : "";
      throw new Error(
        `timed out after ${timeoutMs / 1000}s waiting for ${what}: ${lastErr?.message ?? ""}${tail}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Direct children of a process (cluster workers of a primary). */
export function childPids(pid) {
  const r = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" });
  if (r.status === 0 || r.status === 1) return r.stdout.split(/\s+/).filter(Boolean).map(Number);
  return []; // no pgrep: callers fall back to the primary alone
}

/** Resident memory of a process in MiB, from /proc/PID/status VmRSS. */
export function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

const TICKS_PER_SECOND = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

/**
 * CPU seconds (user + system, every thread) the processes have used so far, from
 * /proc/PID/stat; a process that is gone counts 0. Read before and after a measurement, the
 * difference is what the server spent on it, whatever else shared the machine meanwhile.
 */
export function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue;
    }
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / TICKS_PER_SECOND;
}
