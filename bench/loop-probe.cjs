// Event-loop pause probe (issue #15), preloaded into every Tessera process of a benchmark with
// NODE_OPTIONS="--require /abs/path/bench/loop-probe.cjs" and TESSERA_LOOP_PROBE_DIR=<dir> in the
// server's environment (cluster workers inherit both). Does nothing without TESSERA_LOOP_PROBE_DIR,
// and nothing on worker threads (they share the pid, and their loop is not the one serving).
//
// A 1 ms interval timer (unref'd): every gap between two ticks beyond the 1 ms interval is a
// pause of the event loop. Kept per measurement window: the longest pause (and the process's CPU
// time during it), how many exceeded 10 ms and 50 ms, and the GC entries of the window by kind
// (count, total and longest duration, from perf_hooks). The timer itself wakes an idle process
// 1,000 times a second (a few µs each); under load the loop is awake anyway. Every 500 ms (an unref'd timer, and once more on exit) the figures are
// written atomically to <dir>/<pid>.json. A window starts when the bench writes a new id into
// <dir>/window (bench/loop-probe-read.mjs resetProbe): the probe sees it on its next write, clears
// its figures and echoes the id, so the bench knows every process counts from then on.
"use strict";

const dir = process.env.TESSERA_LOOP_PROBE_DIR;
const { isMainThread } = require("node:worker_threads");

if (dir && isMainThread) {
  const fs = require("node:fs");
  const path = require("node:path");
  const { performance, PerformanceObserver, monitorEventLoopDelay, constants } = require("node:perf_hooks");

  const INTERVAL_MS = 1;
  const WRITE_EVERY_MS = 500;
  const file = path.join(dir, `${process.pid}.json`);
  const temp = path.join(dir, `.${process.pid}.json.tmp`);
  const windowFile = path.join(dir, "window");
  const GC_KINDS = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: "scavenge",
    [constants.NODE_PERFORMANCE_GC_MAJOR]: "markCompact",
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakCallbacks",
  };

  let windowId = null;
  let s;
  // libuv's own view, at 1 ms resolution: a cross-check of the timer's figures.
  const eld = monitorEventLoopDelay({ resolution: 1 });
  eld.enable();
  const reset = (id) => {
    windowId = id;
    s = {
      since: Date.now(),
      ticks: 0,
      maxPauseMs: 0,
      maxPauseCpuMs: 0,
      over10: 0,
      over50: 0,
      pauseTotalMs: 0,
      gc: {},
    };
    last = performance.now();
    lastCpu = cpuMs();
    eld.reset();
  };
  let last = performance.now();
  let lastCpu = 0;

  // The process's CPU time (every thread) at the last tick: what it spent during a pause tells
  // a busy loop (CPU ≈ the pause, or more with GC helper threads) from a process waiting for a
  // core on a crowded machine (CPU well under the pause).
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  reset(null);
  const tick = () => {
    const now = performance.now();
    const cpu = cpuMs();
    const pause = now - last - INTERVAL_MS;
    const spent = cpu - lastCpu;
    last = now;
    lastCpu = cpu;
    s.ticks++;
    if (pause <= 0) return;
    s.pauseTotalMs += pause;
    if (pause > s.maxPauseMs) {
      s.maxPauseMs = pause;
      s.maxPauseCpuMs = spent;
    }
    if (pause > 10) s.over10++;
    if (pause > 50) s.over50++;
  };
  setInterval(tick, INTERVAL_MS).unref();

  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = GC_KINDS[e.detail?.kind ?? e.kind] ?? String(e.detail?.kind ?? e.kind);
      if (!s.gc[kind]) s.gc[kind] = { count: 0, totalMs: 0, maxMs: 0 };
      const g = s.gc[kind];
      g.count++;
      g.totalMs += e.duration;
      if (e.duration > g.maxMs) g.maxMs = e.duration;
    }
  });
  gcObserver.observe({ entryTypes: ["gc"] });

  const readWindow = () => {
    try {
      return fs.readFileSync(windowFile, "utf8").trim() || null;
    } catch {
      return null;
    }
  };
  const write = () => {
    const id = readWindow();
    if (id !== windowId) reset(id);
    const ms = (ns) => (Number.isFinite(ns) ? ns / 1e6 : null);
    const figures = {
      pid: process.pid,
      window: windowId,
      writtenAt: Date.now(),
      ...s,
      eldMaxMs: ms(eld.max),
      eldP99Ms: ms(eld.percentile(99)),
      eldMeanMs: ms(eld.mean),
    };
    try {
      fs.writeFileSync(temp, JSON.stringify(figures));
      fs.renameSync(temp, file);
    } catch {
      // the directory is gone (the bench cleaned up): nothing to report to
    }
  };
  setInterval(write, WRITE_EVERY_MS).unref();
  process.on("exit", write);
  write();
}
