// V8's young generation against latency and memory (issue #15): the 5-rule Tessera started once
// per `--max-semi-space-size` (MiB; "default" is no flag), every one in the same run, each
// measured alone (the others paused) in interleaved rounds: throughput (h2load -n 50000 -c 4
// -m 32 after 5,000 warm-up requests), an open loop at RATE req/s for SOAK_SECONDS (p50, p99,
// p99.9, max), the longest event-loop pause in that window (bench/loop-probe.cjs, preloaded into
// every process), the GCs of that window by kind (count, total and longest pause, perf_hooks),
// and each worker's RSS after. Prints a markdown table (the best round of each: highest req/s,
// lowest open-loop p99; RSS and GC from that round).
//   npm run build && node bench/semispace.mjs
//   SEMI_SPACES="8,16,32,64" RATE=4000 SOAK_SECONDS=60 SEMI_ROUNDS=1 BENCH_WORKERS=2
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { ensureH2load, h2load } from "./h2load.mjs";
import { probeEnv } from "./loop-probe-read.mjs";
import { killAllNow, pauseAllBut, stopAll } from "./proc.mjs";
import { authorizeAttrsCase, SCENARIO_POLICY, soak } from "./soak.mjs";
import { startTessera } from "./targets/tessera.mjs";

const SPACES = ["default", ...(process.env.SEMI_SPACES ?? "8,16,32,64").split(",").filter(Boolean)];
const RATE = Number(process.env.RATE ?? 4000);
const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const ROUNDS = Number(process.env.SEMI_ROUNDS ?? 1);
const WORKERS = Number(process.env.BENCH_WORKERS ?? availableParallelism());
const N = 50_000;
const WARMUP = 5_000;

const started = Date.now();
const tmp = mkdtempSync(join(tmpdir(), "tessera-semispace-"));
const log = (msg) => console.log(`[${`${((Date.now() - started) / 1000).toFixed(0)}s`.padStart(5)}] ${msg}`);
let cleaning;
const cleanup = () => {
  cleaning ??= stopAll().finally(() => rmSync(tmp, { recursive: true, force: true }));
  return cleaning;
};
process.on("exit", killAllNow);
for (const sig of ["SIGINT", "SIGTERM"])
  process.on(sig, () => {
    console.error(`\n${sig}: stopping every target`);
    cleanup().finally(() => process.exit(130));
  });

/** The node flags a process runs with, from /proc/PID/cmdline (up to the script). */
const nodeFlags = (pid) => {
  const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  return argv.slice(
    1,
    argv.findIndex((a) => a.endsWith(".js")),
  );
};

/** One setting's Tessera, started with the flag (checked on every worker) and the probe. */
async function startOne(space) {
  const flag = space === "default" ? [] : [`--max-semi-space-size=${space}`];
  const probeDir = join(tmp, `probe-${space}`);
  const t = await startTessera({
    instance: `semi-${space}`,
    tmp,
    workers: WORKERS,
    policy: SCENARIO_POLICY,
    nodeArgs: flag,
    env: probeEnv(probeDir),
  });
  const c = await authorizeAttrsCase(tmp, t, `semi-${space}`, WORKERS);
  const pids = t.pids();
  if (pids.length !== WORKERS + 1)
    throw new Error(`semi-space ${space}: ${pids.length} processes, expected ${WORKERS + 1}`);
  for (const pid of pids)
    if (nodeFlags(pid).join(" ") !== flag.join(" "))
      throw new Error(
        `semi-space ${space}: process ${pid} runs with [${nodeFlags(pid)}], expected [${flag}]`,
      );
  return { space, t, c, probeDir };
}

async function measure(one, round) {
  const { t, c, probeDir } = one;
  const resume = pauseAllBut([t.proc]);
  let rps;
  try {
    await h2load(c, { n: WARMUP, c: 4, m: 32, timeoutMs: 60_000 });
    rps = (await h2load(c, { n: N, c: 4, m: 32, timeoutMs: 200_000 })).reqPerSec;
  } finally {
    resume();
  }
  // soak() pauses the others itself, and starts the probe's window once they are.
  const s = await soak(t, {
    c,
    rate: RATE,
    seconds: SECONDS,
    sampleEveryMs: 5_000,
    probeDir,
    logFile: join(tmp, "open.log"),
  });
  const workers = Object.values(s.pauses).filter((f) => f.pid !== t.proc.pid);
  const primary = s.pauses[t.proc.pid];
  const gcSum = (kind, key) => workers.reduce((a, f) => a + (f.gc[kind]?.[key] ?? 0), 0);
  const gcMax = (kind) => Math.max(0, ...workers.map((f) => f.gc[kind]?.maxMs ?? 0));
  const last = s.samples[s.samples.length - 1].processes;
  const row = {
    space: one.space,
    round,
    reqPerSec: rps,
    p50Us: s.latency.p50Us,
    p99Us: s.latency.p99Us,
    p999Us: s.latency.p999Us,
    maxUs: s.latency.maxUs,
    openLoopReqPerSec: s.latency.reqPerSec,
    keptRate: s.latency.keptRate,
    workerPauseMs: Math.max(...workers.map((f) => f.maxPauseMs)),
    workerPauseCpuMs: workers.reduce((a, f) => (f.maxPauseMs > a.maxPauseMs ? f : a)).maxPauseCpuMs,
    workerOver10: workers.reduce((a, f) => a + f.over10, 0),
    primaryPauseMs: primary?.maxPauseMs,
    workerRssMiB: last.filter((p) => p.role === "worker").map((p) => p.rssMiB),
    primaryRssMiB: last.find((p) => p.role === "primary")?.rssMiB,
    scavenges: gcSum("scavenge", "count"),
    scavengeMs: gcSum("scavenge", "totalMs"),
    scavengeMaxMs: gcMax("scavenge"),
    markCompacts: gcSum("markCompact", "count"),
    markCompactMs: gcSum("markCompact", "totalMs"),
    markCompactMaxMs: gcMax("markCompact"),
    incrementalMs: gcSum("incremental", "totalMs"),
  };
  log(
    `semi-space ${one.space} round ${round}: ${Math.round(rps)} req/s; open loop ${RATE}/s p99 ${(row.p99Us / 1000).toFixed(2)} ms, p99.9 ${(row.p999Us / 1000).toFixed(2)} ms; longest pause ${row.workerPauseMs.toFixed(1)} ms (CPU during it ${row.workerPauseCpuMs.toFixed(1)} ms; primary ${row.primaryPauseMs?.toFixed(1)}); ${row.scavenges} scavenges (${row.scavengeMs.toFixed(0)} ms), ${row.markCompacts} mark-compacts (${row.markCompactMs.toFixed(0)} ms); worker RSS ${row.workerRssMiB.map((v) => v.toFixed(0)).join(", ")} MiB`,
  );
  return row;
}

function table(rows) {
  const f = (v, d = 1) => (v === undefined ? "-" : v.toFixed(d));
  const ms = (us) => f(us / 1000, 2);
  const lines = [
    `Open loop ${RATE} req/s for ${SECONDS} s; GC counts and times summed over the ${WORKERS} workers in that window; RSS after it.`,
    "",
    "| --max-semi-space-size (MiB) | throughput (req/s) | p50 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | rate kept | longest pause, workers (ms; process CPU in it) | pauses > 10 ms | scavenges | scavenge total / max (ms) | mark-compacts | mark-compact total / max (ms) | worker RSS after (MiB) |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows)
    lines.push(
      `| ${r.space} | ${Math.round(r.reqPerSec).toLocaleString("en-US")} | ${ms(r.p50Us)} | ${ms(r.p99Us)} | ${ms(r.p999Us)} | ${ms(r.maxUs)} | ${f(r.keptRate * 100)}% | ${f(r.workerPauseMs)} (${f(r.workerPauseCpuMs)}) | ${r.workerOver10} | ${r.scavenges} | ${f(r.scavengeMs, 0)} / ${f(r.scavengeMaxMs)} | ${r.markCompacts} | ${f(r.markCompactMs, 0)} / ${f(r.markCompactMaxMs)} | ${r.workerRssMiB.map((v) => v.toFixed(0)).join(", ")} |`,
    );
  return lines.join("\n");
}

try {
  const h2loadVersion = await ensureH2load();
  log(
    `${h2loadVersion}; ${process.version}; 5-rule Tessera --workers ${WORKERS}; semi-space ${SPACES.join(", ")}; ${ROUNDS} round(s)`,
  );
  const ones = [];
  for (const space of SPACES) ones.push(await startOne(space));
  log(`every setting started, its flag on every process, answering ALLOW; measuring`);
  const rows = [];
  for (let round = 1; round <= ROUNDS; round++) for (const one of ones) rows.push(await measure(one, round));
  // The best round of each: the highest throughput; the open-loop figures of the lowest p99.
  const best = ones.map(({ space }) => {
    const mine = rows.filter((r) => r.space === space);
    const open = mine.reduce((a, b) => (b.p99Us < a.p99Us ? b : a));
    return { ...open, reqPerSec: Math.max(...mine.map((r) => r.reqPerSec)) };
  });
  console.log(`\n${table(best)}\n`);
} catch (err) {
  console.error(`\nFAILED: ${err?.stack ?? err}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
