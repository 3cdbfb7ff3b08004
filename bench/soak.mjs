// The soak (issue #15): an open loop at a fixed rate against one Tessera for minutes, the RSS of
// each of its processes sampled throughout, every latency logged, and the longest event-loop
// pause of each process (bench/loop-probe.cjs). The goal: "RSS per process after a 10-minute soak
// at 50% load with 100k agents and 10k rules ≤ 200 MiB, flat over the last 5 minutes".
//
// `soak()` measures a target already started (with the probe's environment, probeEnv(dir));
// `soakOnly()` is `BENCH_ONLY=soak node bench/run.mjs`: it starts Cerbos to find 50% load (or
// takes SOAK_RATE), then the big Tessera (100,000 agents, 10,005 rules) and soaks it for
// SOAK_SECONDS (default 600).
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { toBinary } from "@bufbuild/protobuf";
import { Effect } from "@cerbos/api/cerbos/effect/v1/effect_pb";
import { CerbosService } from "@cerbos/api/cerbos/svc/v1/svc_pb";
import { AdminService } from "../dist/gen/tessera/v1/admin_service_pb.js";
import { AuthService, Decision } from "../dist/gen/tessera/v1/auth_service_pb.js";
import { framedSize, grpcCall, pathOf } from "./grpc-call.mjs";
import { ensureH2load, h2load, logPercentiles, parseReport, writeGrpcBody } from "./h2load.mjs";
import { longestPause, probeEnv, readProbe, resetProbe } from "./loop-probe-read.mjs";
import { childPids, pauseAllBut, runOk, stop } from "./proc.mjs";
import { bigPolicy } from "./scenario/big-policy.mjs";
import * as req from "./scenario/requests.mjs";
import { cerbosBinary, startCerbos } from "./targets/cerbos.mjs";
import { serveOptions, startTessera } from "./targets/tessera.mjs";

const HERE = fileURLToPath(new URL(".", import.meta.url));
export const SCENARIO_POLICY = join(HERE, "scenario/policy.yaml");
const CONNECTIONS = 4; // as run.mjs's open loop: the rate split over 4 connections
const STREAMS = 64;
// Flatness over the last FLAT.windowSeconds (the goal's 5 minutes; the last half of a shorter
// soak): per process, the least-squares slope of RSS over time under FLAT.slopeMiBPerMin and its
// growth (the window's largest RSS minus its first sample) under FLAT.growthMiB.
export const FLAT = { windowSeconds: 300, slopeMiBPerMin: 1, growthMiB: 10 };
export const RSS_GOAL_MIB = 200;

const fail = (what) => {
  throw new Error(`check failed: ${what}`);
};

/**
 * A measurable case as run.mjs's `prepare` makes it: the call made `calls` times with a real
 * client (fresh connections: every worker answers once), each answer checked, h2load's body file.
 */
export async function prepareCase(tmp, target, caseId, method, message, headers, check, calls = 1) {
  let res;
  for (let i = 0; i < calls; i++) {
    res = await grpcCall(target.port, pathOf(method), method, message, headers);
    check(res);
  }
  const url = `http://127.0.0.1:${target.port}${pathOf(method)}`;
  const body = writeGrpcBody(tmp, `${target.name}-${caseId}`, toBinary(method.input, message));
  return caseOf(target, caseId, url, body, headers, framedSize(method, res));
}

/**
 * What h2load needs of a case, and what the bench records of it: the target's processes (to
 * pause the others, and to count its CPU), the URL, h2load's body file and headers, and the
 * size every answer must have.
 */
export function caseOf(target, caseId, url, body, headers, expectBytes) {
  return {
    target: target.name,
    proc: target.proc,
    pids: target.pids ?? (() => [target.proc.pid, ...childPids(target.proc.pid)]),
    caseId,
    label: `${target.name} ${caseId}`,
    url,
    body,
    headers,
    expectBytes,
  };
}

/** ALLOW by the scenario's rule at the target's policy revision. */
export const scenarioAllowed = (what, revision) => (r) => {
  if (r.decision !== Decision.ALLOW || r.rule !== "scenario/propose")
    fail(`${what}: expected ALLOW by scenario/propose, got ${Decision[r.decision]} ${r.reason} ${r.rule}`);
  if (revision && Number(r.policyRevision) !== revision)
    fail(`${what}: revision ${r.policyRevision}, expected ${revision}`);
};

/** Authorize (attributes subject) on a Tessera, checked on every worker. */
export const authorizeAttrsCase = (tmp, t, caseId, workers) =>
  prepareCase(
    tmp,
    t,
    caseId,
    AuthService.method.authorize,
    req.authorizeAttributes(),
    { "x-api-key": t.apiKey },
    scenarioAllowed(`${t.instance} ${caseId}`, t.revision),
    workers * 2,
  );

/** Percentiles (µs) of h2load's --log-file beyond logPercentiles': p99.9, and p99 per minute. */
export function logDetail(path) {
  const rows = readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [start, , us] = line.split("\t");
      return [Number(start), Number(us)];
    });
  // The log is in completion order per connection, not in start order: minutes from the earliest.
  let t0 = Number.POSITIVE_INFINITY;
  for (const [s] of rows) if (s < t0) t0 = s;
  const lat = [];
  const byMinute = new Map();
  for (const [s, d] of rows) {
    lat.push(d);
    const minute = Math.floor((s - t0) / 60e6);
    if (!byMinute.has(minute)) byMinute.set(minute, []);
    byMinute.get(minute).push(d);
  }
  const q = (a, p) => a[Math.min(a.length - 1, Math.floor(p * a.length))];
  lat.sort((a, b) => a - b);
  const perMinute = [...byMinute.entries()]
    .sort(([a], [b]) => a - b)
    .map(([minute, a]) => {
      a.sort((x, y) => x - y);
      return { minute, count: a.length, p99Us: q(a, 0.99), p999Us: q(a, 0.999), maxUs: a[a.length - 1] };
    });
  return { p999Us: q(lat, 0.999), perMinute };
}

/**
 * h2load as an open loop for `seconds` (timing-based, -D): `rate` req/s split over 4 connections
 * (--rps each), every latency in `logFile`. Checks that nothing failed and every answer is the
 * expected size, and that the loop kept its rate.
 */
export async function openLoopFor(c, { rate, seconds, logFile }) {
  const perConnection = Math.max(1, Math.round(rate / CONNECTIONS));
  const args = ["-D", String(seconds), "-c", String(CONNECTIONS), "-m", String(STREAMS), "-t", "1"];
  args.push("-d", c.body, "-H", "content-type: application/grpc", "-H", "te: trailers");
  for (const [k, v] of Object.entries(c.headers ?? {})) args.push("-H", `${k}: ${v}`);
  rmSync(logFile, { force: true }); // h2load appends to an existing log
  args.push(`--rps=${perConnection}`, `--log-file=${logFile}`, c.url);
  const { stdout, stderr } = await runOk("h2load", args, { timeoutMs: (seconds + 60) * 1000 });
  const r = parseReport(stdout);
  const problems = [];
  if (r.failed || r.errored || r.timeout)
    problems.push(`${r.failed} failed, ${r.errored} errored, ${r.timeout} timeout`);
  // Timing-based: answers to requests still in flight at the end count in the status codes only.
  if (r.non2xx || r.status2xx < r.succeeded) problems.push(`${r.status2xx} 2xx, ${r.non2xx} non-2xx`);
  const perReq = r.dataBytes / Math.max(1, r.done);
  if (c.expectBytes && Math.abs(perReq - c.expectBytes) > Math.max(4, 0.02 * c.expectBytes))
    problems.push(`${perReq.toFixed(1)} response bytes per request, expected ${c.expectBytes}`);
  const offered = perConnection * CONNECTIONS;
  r.log = logPercentiles(logFile);
  if (r.log.bad) problems.push(`log: ${r.log.bad} requests not 200`);
  if (problems.length) throw new Error(`h2load soak ${c.label}: ${problems.join("; ")}\n${stdout}${stderr}`);
  Object.assign(r.log, logDetail(logFile));
  r.targetRate = offered;
  // Below 1 when the server fell behind: with STREAMS calls in flight on a connection, h2load
  // sends no more on it until one is answered (the rate is then not what was asked).
  r.keptRate = r.done / (offered * seconds);
  return r;
}

/** Least-squares slope of y over x. */
function slope(xs, ys) {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den ? num / den : 0;
}

/**
 * The flatness verdict per process over the last FLAT.windowSeconds of the samples (the last
 * half when the soak was shorter than twice that): slope (MiB/min, least squares), growth (the
 * window's largest RSS minus its first sample, MiB), flat when both are under FLAT's bounds.
 */
export function flatness(samples, seconds) {
  const windowS = Math.min(FLAT.windowSeconds, seconds / 2);
  const from = seconds - windowS;
  const byPid = new Map();
  for (const s of samples)
    for (const p of s.processes) {
      if (!byPid.has(p.pid)) byPid.set(p.pid, { pid: p.pid, role: p.role, points: [] });
      byPid.get(p.pid).points.push([s.t, p.rssMiB]);
    }
  const processes = [...byPid.values()].map(({ pid, role, points }) => {
    const last = points.filter(([t]) => t >= from);
    const xs = last.map(([t]) => t / 60);
    const ys = last.map(([, v]) => v);
    const perMin = slope(xs, ys);
    const growth = ys.length ? Math.max(...ys) - ys[0] : Number.NaN;
    const flat = last.length >= 3 && perMin < FLAT.slopeMiBPerMin && growth < FLAT.growthMiB;
    return {
      pid,
      role,
      samplesInWindow: last.length,
      startMiB: points[0][1],
      windowStartMiB: ys[0],
      endMiB: points[points.length - 1][1],
      maxMiB: Math.max(...points.map(([, v]) => v)),
      slopeMiBPerMin: perMin,
      growthMiB: growth,
      flat,
      underGoal: points[points.length - 1][1] <= RSS_GOAL_MIB,
    };
  });
  return {
    rule: `last ${windowS} s: least-squares slope < ${FLAT.slopeMiBPerMin} MiB/min and (max − first sample) < ${FLAT.growthMiB} MiB, per process`,
    windowSeconds: windowS,
    processes,
    flat: processes.every((p) => p.flat),
    underGoal: processes.every((p) => p.underGoal),
  };
}

/**
 * Soaks `target` (a started Tessera: proc, rss()) with the prepared case `c` (prepareCase, or
 * run.mjs's prepare) as an open loop at `rate` req/s for `seconds`, the other targets paused
 * (SIGSTOP) meanwhile. Samples target.rss() every `sampleEveryMs`; with `probeDir` (the target
 * started with probeEnv(probeDir)), the longest event-loop pause of each process over the soak.
 * `logFile` defaults to <probeDir or tmpdir>/soak.log. Resolves { samples, latency, pauses,
 * flatness, h2load }.
 */
export async function soak(
  target,
  { c, rate, seconds, sampleEveryMs = 5_000, probeDir, logFile, onSample } = {},
) {
  if (!c) throw new Error("soak: no prepared case (c)");
  const pids = target.pids();
  const role = (p) => (p.primary ? "primary" : "worker");
  const resume = pauseAllBut([target.proc]);
  try {
    if (probeDir) await resetProbe(probeDir, pids);
    const samples = [];
    const t0 = Date.now();
    const sample = () => {
      const s = {
        t: (Date.now() - t0) / 1000,
        processes: target.rss().map((p) => ({ pid: p.pid, role: role(p), rssMiB: p.rssMiB })),
      };
      samples.push(s);
      onSample?.(s);
    };
    sample();
    const timer = setInterval(sample, sampleEveryMs);
    let r;
    try {
      r = await openLoopFor(c, {
        rate,
        seconds,
        logFile: logFile ?? join(probeDir ?? tmpdir(), `soak-${process.pid}.log`),
      });
    } finally {
      clearInterval(timer);
    }
    sample();
    const gone = pids.filter((pid) => !target.pids().includes(pid));
    if (gone.length)
      throw new Error(`soak: process(es) ${gone.join(", ")} of ${c.label} exited during the soak`);
    const pauses = probeDir ? await readProbe(probeDir, pids) : undefined;
    return {
      rate: r.targetRate,
      seconds,
      sampleEveryMs,
      samples,
      latency: { ...r.log, reqPerSec: r.done / r.seconds, done: r.done, keptRate: r.keptRate },
      pauses,
      longestPause: pauses && longestPause(pauses),
      flatness: flatness(samples, seconds),
      h2load: r,
    };
  } finally {
    resume();
  }
}

const ms = (us) => (us === undefined ? "-" : `${(us / 1000).toFixed(2)} ms`);

/** The soak's figures as lines of text: RSS per process per minute, flatness, latency, pauses. */
export function soakReport(result) {
  const lines = [];
  const { samples, flatness: flat, latency, pauses } = result;
  const procs = flat.processes;
  lines.push(
    `soak: ${result.rate} req/s offered for ${result.seconds} s, ${Math.round(latency.reqPerSec)} req/s done (${latency.done} requests)`,
  );
  if (latency.keptRate < 0.95)
    lines.push(
      `WARNING: the open loop kept ${(latency.keptRate * 100).toFixed(1)}% of its rate (the server, or the machine, fell behind)`,
    );
  lines.push(`RSS (MiB) per process, one sample a minute (and the last):`);
  lines.push(`  ${"t (s)".padStart(6)}  ${procs.map((p) => `${p.role} ${p.pid}`.padStart(15)).join("")}`);
  let nextMinute = 0;
  samples.forEach((s, i) => {
    if (s.t + 0.5 < nextMinute && i !== samples.length - 1) return;
    nextMinute = (Math.floor((s.t + 0.5) / 60) + 1) * 60;
    const byPid = new Map(s.processes.map((p) => [p.pid, p.rssMiB]));
    lines.push(
      `  ${s.t.toFixed(0).padStart(6)}  ${procs.map((p) => (byPid.get(p.pid)?.toFixed(1) ?? "-").padStart(15)).join("")}`,
    );
  });
  lines.push(`flatness (${flat.rule}):`);
  for (const p of procs)
    lines.push(
      `  ${p.role.padEnd(7)} ${String(p.pid).padEnd(7)} start ${p.startMiB.toFixed(1)}, end ${p.endMiB.toFixed(1)}, max ${p.maxMiB.toFixed(1)} MiB; last ${flat.windowSeconds} s: slope ${p.slopeMiBPerMin.toFixed(2)} MiB/min, growth ${p.growthMiB.toFixed(1)} MiB → ${p.flat ? "flat" : "NOT flat"}${p.underGoal ? "" : `, above ${RSS_GOAL_MIB} MiB`}`,
    );
  lines.push(
    `verdict: ${flat.flat ? "flat" : "NOT flat"}; every process ≤ ${RSS_GOAL_MIB} MiB at the end: ${flat.underGoal ? "yes" : "no"}`,
  );
  lines.push(
    `latency: p50 ${ms(latency.p50Us)}, p99 ${ms(latency.p99Us)}, p99.9 ${ms(latency.p999Us)}, max ${ms(latency.maxUs)}, mean ${ms(latency.meanUs)}`,
  );
  lines.push(`  p99 per minute: ${latency.perMinute.map((m) => `${m.minute}: ${ms(m.p99Us)}`).join(", ")}`);
  if (pauses) {
    lines.push("longest event-loop pause (1 ms interval probe), per process over the soak:");
    const role = new Map(procs.map((p) => [p.pid, p.role]));
    for (const f of Object.values(pauses)) {
      const gc = Object.entries(f.gc)
        .map(([k, g]) => `${k} ${g.count} (total ${g.totalMs.toFixed(0)} ms, max ${g.maxMs.toFixed(1)} ms)`)
        .join(", ");
      lines.push(
        `  ${(role.get(f.pid) ?? "?").padEnd(7)} ${String(f.pid).padEnd(7)} max ${f.maxPauseMs.toFixed(1)} ms (process CPU during it ${f.maxPauseCpuMs.toFixed(1)} ms), ${f.over10} > 10 ms, ${f.over50} > 50 ms; loop delay p99 ${f.eldP99Ms?.toFixed(1)} ms (monitorEventLoopDelay); GC: ${gc || "none"}`,
      );
    }
    const w = result.longestPause;
    lines.push(
      `  longest: ${w.maxPauseMs.toFixed(1)} ms (pid ${w.pid}); a pause with far less CPU than its length was the process waiting for a core (a crowded machine), not its own work`,
    );
  }
  return lines.join("\n");
}

/** Cerbos answers the scenario's CheckResources with EFFECT_ALLOW. */
const cerbosCheck = (port) =>
  grpcCall(
    port,
    pathOf(CerbosService.method.checkResources),
    CerbosService.method.checkResources,
    req.cerbosCheck(),
  );
const cerbosAllowed = (r) => {
  const effect = r.results?.[0]?.actions?.[req.CERBOS_ACTION];
  if (effect !== Effect.ALLOW)
    fail(`Cerbos: expected EFFECT_ALLOW for ${req.CERBOS_ACTION}, got ${Effect[effect] ?? effect}`);
};

/** Cerbos's best throughput (-n N -c 4 -m 32 after 5,000 warm-up requests) over `rounds`. */
async function cerbosThroughput(tmp, n, rounds) {
  const cerbos = await startCerbos(tmp, cerbosCheck);
  try {
    const c = await prepareCase(
      tmp,
      cerbos,
      "attrs",
      CerbosService.method.checkResources,
      req.cerbosCheck(),
      {},
      cerbosAllowed,
    );
    const resume = pauseAllBut([cerbos.proc]);
    try {
      await h2load(c, { n: 5_000, c: 4, m: 32, timeoutMs: 60_000 });
      let best = 0;
      for (let i = 0; i < rounds; i++)
        best = Math.max(best, (await h2load(c, { n, c: 4, m: 32, timeoutMs: 200_000 })).reqPerSec);
      return best;
    } finally {
      resume();
    }
  } finally {
    await stop(cerbos.proc);
  }
}

/**
 * The big Tessera of run.mjs's main(): 100,000 agents seeded, the scenario beside 10,000 more
 * rules (10,005), workers as run.mjs starts them; with the loop probe when `probeDir` is given.
 */
export async function startBigTessera(tmp, { workers, probeDir, agents = 100_000, ready }) {
  const bigDir = join(tmp, "big-policies");
  mkdirSync(bigDir, { recursive: true });
  writeFileSync(join(bigDir, "big.yaml"), bigPolicy());
  copyFileSync(SCENARIO_POLICY, join(bigDir, "scenario.yaml"));
  const big = await startTessera({
    instance: "big",
    tmp,
    workers,
    policy: bigDir,
    seedAgents: agents,
    env: {
      TESSERA_MAX_MESSAGE_BYTES: String(8 * 1024 * 1024),
      ...(probeDir ? probeEnv(probeDir) : {}),
    },
    ready,
  });
  const listed = await grpcCall(
    big.port,
    pathOf(AdminService.method.listPolicies),
    AdminService.method.listPolicies,
    {},
    { "x-api-key": big.apiKey, "x-admin-token": big.adminToken },
  );
  const rules = listed.policies.reduce((n, p) => n + p.ruleCount, 0);
  if (rules !== 10_005) fail(`the big org holds ${rules} rules, expected 10,005`);
  return big;
}

/**
 * `BENCH_ONLY=soak node bench/run.mjs` (after `npm run build`): 50% load is half of Cerbos's
 * best throughput on the scenario (Cerbos started, measured alone, stopped), or SOAK_RATE
 * req/s; then the big Tessera (100,000 agents, 10,005 rules, the loop probe preloaded) soaked
 * at that rate with Authorize (attributes) for SOAK_SECONDS (default 600), RSS sampled every
 * SOAK_SAMPLE_MS (default 5000). Prints the samples, the flatness verdict, the latency and the
 * longest pause; the raw figures in bench/results/soak.json.
 */
export async function soakOnly() {
  const started = Date.now();
  const log = (msg) =>
    console.log(`[${`${((Date.now() - started) / 1000).toFixed(0)}s`.padStart(5)}] ${msg}`);
  const h2loadVersion = await ensureH2load();
  const seconds = Number(process.env.SOAK_SECONDS ?? 600);
  const sampleEveryMs = Number(process.env.SOAK_SAMPLE_MS ?? 5_000);
  const hasWorkers = serveOptions().has("--workers");
  const workers = hasWorkers ? Number(process.env.BENCH_WORKERS ?? availableParallelism()) : 1;
  const tmp = mkdtempSync(join(tmpdir(), "tessera-soak-"));
  let big;
  try {
    let rate = Number(process.env.SOAK_RATE ?? 0);
    let cerbosBest;
    if (!rate) {
      cerbosBinary();
      const n = Number(process.env.BENCH_N ?? 100_000);
      log(`${h2loadVersion}; Cerbos's throughput on the scenario (-n ${n} -c 4 -m 32, 2 rounds, the best)`);
      cerbosBest = await cerbosThroughput(tmp, n, 2);
      rate = Math.round(cerbosBest / 2);
      log(`Cerbos: ${Math.round(cerbosBest)} req/s; 50% load: ${rate} req/s`);
    } else log(`${h2loadVersion}; SOAK_RATE=${rate} req/s`);
    const probeDir = join(tmp, "probe");
    const ready = (t) => authorizeAttrsCase(tmp, t, "ready", workers).then(() => true);
    log(`starting the big Tessera (100,000 agents, 10,005 rules, ${workers} workers, loop probe)`);
    big = await startBigTessera(tmp, { workers: hasWorkers ? workers : undefined, probeDir, ready });
    const c = await authorizeAttrsCase(tmp, big, "big", workers);
    log(
      `big Tessera :${big.port} answers ALLOW; RSS ${big
        .rss()
        .map((p) => `${p.primary ? "primary" : "worker"} ${p.rssMiB.toFixed(0)} MiB`)
        .join(", ")}; soaking at ${rate} req/s for ${seconds} s`,
    );
    let lastLogged = -Infinity;
    const result = await soak(big, {
      c,
      rate,
      seconds,
      sampleEveryMs,
      probeDir,
      logFile: join(tmp, "soak.log"),
      onSample: (s) => {
        if (s.t - lastLogged < 60) return;
        lastLogged = s.t;
        log(
          `  t=${s.t.toFixed(0)} s RSS ${s.processes.map((p) => `${p.role} ${p.rssMiB.toFixed(1)}`).join(", ")} MiB`,
        );
      },
    });
    await stop(big.proc);
    console.log(soakReport(result));
    const out = join(HERE, "results/soak.json");
    mkdirSync(join(HERE, "results"), { recursive: true });
    const { h2load: raw, ...kept } = result;
    writeFileSync(
      out,
      `${JSON.stringify(
        {
          started: new Date(started).toISOString(),
          workers,
          versions: { h2load: h2loadVersion },
          cerbosReqPerSec: cerbosBest,
          rssGoalMiB: RSS_GOAL_MIB,
          flatRule: FLAT,
          ...kept,
          h2load: { seconds: raw.seconds, done: raw.done, reqPerSec: raw.reqPerSec },
        },
        null,
        2,
      )}\n`,
    );
    log(`raw figures in ${out}`);
    return result;
  } finally {
    await stop(big?.proc);
    rmSync(tmp, { recursive: true, force: true });
  }
}
