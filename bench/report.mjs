// The run's output: a table and the goal ratios on stdout, bench/results/latest.json,
// bench/results/chart.svg, and this benchmark's section of BENCHMARKS.md (other sections kept).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, hostname, release, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chartSvg } from "./chart.mjs";
import { latencyChart } from "./latency-chart.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const RESULTS = join(ROOT, "bench/results");
export const SECTION = "## gRPC benchmark: Tessera vs. Cerbos vs. bare grpc-js";

export const CASES = {
  attrs: "Authorize, attributes subject",
  pg: "Authorize, attributes subject, PostgreSQL store (replica A of two)",
  token: "Authorize, token subject (cache warm)",
  big: "Authorize, 10,005 rules + 100k agents",
  authn: "Authenticate, API key",
  mint: "MintToken",
  mintsign: "MintToken, decoded and the same claims signed (node:crypto Ed25519)",
  decidemint: "Authorize with mint (token subject)",
  nolog: "Authorize, attributes, decision log off",
  sync: "Authorize, attributes, decision log sync",
  nometrics: "Authorize, attributes, metrics off",
  limited: "Authorize, attributes, every key rate-limited (never hit)",
  extauthz: "ext_authz Check, token in the checked request, routed",
  authzen: "AuthZEN /access/v1/evaluation (HTTP/1.1 JSON)",
  json: "Authorize, Connect JSON on the HTTP port (HTTP/1.1)",
  "json-h2c": "Authorize, Connect JSON on the HTTP port (h2c)",
};
const TARGET_CASE = {
  cerbos: {
    attrs: "CheckResources, the same question",
    authzen: "its own AuthZEN /access/v1/evaluation, the same body",
    json: "REST /api/check/resources, the same question (HTTP/1.1)",
    "json-h2c": "REST /api/check/resources, the same question (h2c)",
  },
  limit: {
    json: "bare connect-node, constant Authorize, Connect JSON (HTTP/1.1)",
    "json-h2c": "bare connect-node, constant Authorize, Connect JSON (h2c)",
  },
};
export const caseLabel = (target, caseId) => TARGET_CASE[target]?.[caseId] ?? CASES[caseId];

const find = (rows, target, caseId, mode = "throughput") =>
  rows.find((r) => r.target === target && r.caseId === caseId && r.mode === mode);

/**
 * The MintToken goal (issue #15): Tessera's MintToken against the limit that decodes the request
 * and signs the same claims with node:crypto Ed25519 (same run, same load); and, as information,
 * the same in server CPU per request, and against raw signing in a loop when it ran.
 */
export function mintRatios(rows, ed25519OpsPerSec) {
  const rps = (t, c) => find(rows, t, c)?.reqPerSec;
  const cpu = (t, c) => find(rows, t, c)?.cpuUsPerReq;
  const out = [];
  if (rps("tessera", "mint") && rps("limit", "mintsign"))
    out.push(
      atLeast(
        "MintToken / limit (bare grpc-js decoding and signing the same claims with node:crypto Ed25519), req/s",
        rps("tessera", "mint") / rps("limit", "mintsign"),
        0.7,
      ),
    );
  if (cpu("tessera", "mint") && cpu("limit", "mintsign"))
    out.push(
      info(
        "server CPU per request, signing limit / MintToken (≥ 0.7 would match the goal)",
        cpu("limit", "mintsign") / cpu("tessera", "mint"),
      ),
    );
  if (ed25519OpsPerSec && rps("limit", "mintsign"))
    out.push(
      info("signing limit req/s / raw Ed25519 signatures/s", rps("limit", "mintsign") / ed25519OpsPerSec),
    );
  return out;
}

/**
 * The tail (issue #15): Authorize (attributes) p99 and p99.9 in an open loop at 50% and 80% of
 * Cerbos's best throughput against Cerbos's at the same load, and the longest event-loop pause a
 * 1 ms probe saw in a Tessera worker during the 50% run.
 */
function tailRatios(d) {
  const at = (target, mode) => find(d.rows, target, "attrs", mode);
  const list = [];
  const t50 = at("tessera", "open-loop");
  const c50 = at("cerbos", "open-loop");
  list.push([
    `p99 at ${d.openLoopRate} req/s (50% of Cerbos's), Tessera / Cerbos`,
    t50.p99Us / c50.p99Us,
    "<=",
    0.8,
  ]);
  const t80 = at("tessera", "open-loop-80");
  const c80 = at("cerbos", "open-loop-80");
  if (t80 && c80)
    list.push([
      `p99 at ${d.openLoopRate80} req/s (80% of Cerbos's), Tessera / Cerbos`,
      t80.p99Us / c80.p99Us,
      "<=",
      1.0,
    ]);
  if (t50.p999Us && c50.p999Us)
    list.push([`p99.9 at ${d.openLoopRate} req/s, Tessera / Cerbos`, t50.p999Us / c50.p999Us, "<=", 1.0]);
  if (t50.maxPauseMs !== undefined)
    list.push([
      "longest event-loop pause in a worker during the 50% run (1 ms probe), ms",
      t50.maxPauseMs,
      "<=",
      10,
    ]);
  return list;
}

const minutes = (seconds) => Number((seconds / 60).toFixed(1));

/** The soak (issue #15): RSS per process at its end, and whether it stayed flat over the last 5 minutes. */
function soakRatios(s) {
  if (!s) return [];
  const end = Math.max(...s.flatness.processes.map((p) => p.endMiB));
  const growth = Math.max(...s.flatness.processes.map((p) => p.growthMiB));
  return [
    [
      `RSS per process after a ${s.seconds / 60}-minute soak at ${s.rate} req/s (100k agents, 10,005 rules), MiB (largest)`,
      end,
      "<=",
      200,
    ],
    [
      `RSS growth over the soak's last ${s.flatness.windowSeconds / 60} minutes, MiB (largest; flat: slope < 1 MiB/min too)`,
      growth,
      "<=",
      10,
    ],
  ];
}

/** The overload case's goals (issue #11): what a crowd far beyond capacity may cost. */
function overloadRatios(o) {
  if (!o) return [];
  const what = `${o.connections} connections × ${o.streams} streams`;
  return [
    [`overload (${what}): Authorize goodput / best throughput`, o.goodputOfBest, ">=", 0.8],
    [
      "overload: p99 of a client's accepted Authorize calls, ms",
      o.probeP99Ms ?? Number.POSITIVE_INFINITY,
      "<=",
      50,
    ],
    [`overload: /healthz p99 (${o.healthzOn ?? "HTTP port"}), ms`, o.healthzP99Ms, "<=", 50],
    ["overload: largest worker RSS during the load, MiB", o.rssMaxMiB, "<=", 300],
    [
      "overload: back to normal after the load stops, ms",
      o.recoveryMs ?? Number.POSITIVE_INFINITY,
      "<=",
      1000,
    ],
  ];
}

/** A goal row: the ratio, and whether it reaches `min`. */
const atLeast = (name, v, min) => ({ name, value: Number(v.toFixed(3)), goal: `≥ ${min}`, met: v >= min });
/** A goal row with a ceiling: the figure, and whether it stays within `max`. */
const atMost = (name, v, max, digits = 3) => ({
  name,
  value: Number(v.toFixed(digits)),
  goal: `≤ ${max}`,
  met: v <= max,
});
/** An information row: a ratio with no goal (or with what to expect, shown but not judged). */
const info = (name, v, digits = 3, expected = "–") => ({
  name,
  value: Number(v.toFixed(digits)),
  goal: expected,
  met: null,
});

/**
 * The mesh goals (issue #12), where their cases ran: ext_authz Check against Authorize with a
 * token subject (same Tessera, same load), and AuthZEN against Cerbos's own AuthZEN endpoint.
 */
export function meshRatios(rows) {
  const rps = (t, c) => find(rows, t, c)?.reqPerSec;
  const out = [];
  if (rps("tessera", "extauthz") && rps("tessera", "token"))
    out.push(
      atLeast(
        "ext_authz Check / Authorize (token), req/s",
        rps("tessera", "extauthz") / rps("tessera", "token"),
        0.9,
      ),
    );
  if (rps("tessera", "authzen") && rps("cerbos", "authzen")) {
    const load = find(rows, "tessera", "authzen")?.load;
    out.push(
      atLeast(
        `AuthZEN evaluation, Tessera / Cerbos, req/s${load ? ` (${load})` : ""}`,
        rps("tessera", "authzen") / rps("cerbos", "authzen"),
        1.5,
      ),
    );
  }
  // The same comparisons in server CPU time per request (all processes, all threads; the lowest
  // round of each): a reading other work on a shared machine moves less than req/s. Information.
  const cpu = (t, c) => find(rows, t, c)?.cpuUsPerReq;
  if (cpu("tessera", "extauthz") && cpu("tessera", "token"))
    out.push(
      info(
        "server CPU per request, Authorize (token) / ext_authz Check (≥ 0.9 would match the goal)",
        cpu("tessera", "token") / cpu("tessera", "extauthz"),
      ),
    );
  if (cpu("tessera", "authzen") && cpu("cerbos", "authzen"))
    out.push(
      info(
        "server CPU per request, Cerbos AuthZEN / Tessera AuthZEN (≥ 1.5 would match the goal)",
        cpu("cerbos", "authzen") / cpu("tessera", "authzen"),
      ),
    );
  return out;
}

function ratios(d) {
  const rps = (t, c) => find(d.rows, t, c)?.reqPerSec;
  const maxRss = Math.max(...d.rss.big.map((p) => p.rssMiB));
  const list = [
    ["Authorize (attributes) / Cerbos, req/s", rps("tessera", "attrs") / rps("cerbos", "attrs"), ">=", 1.5],
    ["Authorize (token) / Cerbos, req/s", rps("tessera", "token") / rps("cerbos", "attrs"), ">=", 1.3],
    ["Authorize (attributes) / limit, req/s", rps("tessera", "attrs") / rps("limit", "attrs"), ">=", 0.85],
    [
      "serial mean latency, Tessera / Cerbos",
      find(d.rows, "tessera", "attrs", "serial").meanUs / find(d.rows, "cerbos", "attrs", "serial").meanUs,
      "<=",
      0.8,
    ],
    ...tailRatios(d),
    [
      "10,005 rules + 100k agents / 5 rules, req/s",
      rps("tessera", "big") / rps("tessera", "attrs"),
      ">=",
      0.9,
    ],
    ["Authenticate (API key) / limit, req/s", rps("tessera", "authn") / rps("limit", "authn"), ">=", 0.8],
    ["MintToken req/s / raw Ed25519 signatures/s", rps("tessera", "mint") / d.ed25519OpsPerSec, ">=", 0.6],
    ["RSS per process, MiB (largest, 100k agents + 10,005 rules)", maxRss, "<=", 200],
    ...soakRatios(d.soak),
    ...overloadRatios(d.overload),
  ];
  const out = list.map(([name, value, op, goal]) => ({
    name,
    value: Number(value.toFixed(/RSS|ms$/.test(name) ? 1 : 3)),
    goal: `${op === ">=" ? "≥" : "≤"} ${goal}`,
    met: op === ">=" ? value >= goal : value <= goal,
  }));
  out.push(...mintRatios(d.rows));
  // Decide and mint (issue #12): one round trip instead of Authorize then MintToken. Results
  // of runs before the case existed have no row, and no such goal.
  if (rps("tessera", "decidemint"))
    out.push(
      atLeast(
        "Authorize-with-mint / MintToken, req/s",
        rps("tessera", "decidemint") / rps("tessera", "mint"),
        0.8,
      ),
    );
  out.push(...meshRatios(d.rows));
  out.push(...jsonRatios(d.rows));
  if (rps("tessera", "nolog"))
    out.push(
      info(
        `decision logging: Authorize (attributes) with the log / without (${d.decisionLogOff})`,
        rps("tessera", "attrs") / rps("tessera", "nolog"),
      ),
    );
  // Issue #13: metrics and rate limits (not hit) may cost at most 3% of Authorize throughput.
  if (rps("tessera", "nometrics"))
    out.push(
      atLeast(
        "metrics: Authorize (attributes) with metrics / without, req/s",
        rps("tessera", "attrs") / rps("tessera", "nometrics"),
        0.97,
      ),
    );
  if (rps("tessera", "limited"))
    out.push(
      atLeast(
        "rate limits: Authorize (attributes) with every key limited (not hit) / none, req/s",
        rps("tessera", "limited") / rps("tessera", "attrs"),
        0.97,
      ),
    );
  const syncRatio = durabilityRatio(d.rows);
  if (syncRatio !== undefined)
    out.push(
      info(`decision log durability: Authorize (attributes) sync / async (${d.decisionLogSync})`, syncRatio),
    );
  return out;
}

/** What answering only once the decision is stored costs: sync req/s over async (the default), when both ran. */
export function durabilityRatio(rows) {
  const sync = find(rows, "tessera", "sync")?.reqPerSec;
  const async = find(rows, "tessera", "attrs")?.reqPerSec;
  return sync && async ? sync / async : undefined;
}

const ms = (us) => (us === undefined ? "–" : `${(us / 1000).toFixed(2)} ms`);
const num = (x) => Math.round(x).toLocaleString("en-US");
const MODE = {
  throughput: "throughput (-c 4 -m 32)",
  serial: "serial (-c 1 -m 1)",
  "open-loop": "open loop",
  "open-loop-80": "open loop",
};

function table(d) {
  const order = (list, v) => list.indexOf(v);
  const modes = ["throughput", "serial", "open-loop", "open-loop-80"];
  const cases = [
    "attrs",
    "pg",
    "nolog",
    "nometrics",
    "limited",
    "sync",
    "token",
    "extauthz",
    "authzen",
    "big",
    "authn",
    "mint",
    "mintsign",
    "json",
    "json-h2c",
  ];
  const targets = ["limit", "cerbos", "tessera"];
  const rows = [...d.rows].sort(
    (a, b) =>
      order(modes, a.mode) - order(modes, b.mode) ||
      order(cases, a.caseId) - order(cases, b.caseId) ||
      order(targets, a.target) - order(targets, b.target),
  );
  const lines = [
    "| target | case | load | req/s | mean | max | p50 | p99 | p99.9 | server CPU/req |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map((r) => {
      const load = r.mode.startsWith("open-loop")
        ? `open loop @ ${num(r.targetRate)} req/s`
        : r.load
          ? `${r.mode} (${r.load})`
          : MODE[r.mode];
      const cpu = r.cpuUsPerReq === undefined ? "–" : `${Math.round(r.cpuUsPerReq)} µs`;
      return `| ${r.target} | ${caseLabel(r.target, r.caseId)} | ${load} | ${num(r.reqPerSec)} | ${ms(r.meanUs)} | ${ms(r.maxUs)} | ${ms(r.p50Us)} | ${ms(r.p99Us)} | ${ms(r.p999Us)} | ${cpu} |`;
    }),
  ];
  if (d.ed25519OpsPerSec !== undefined)
    lines.push(
      `| raw Ed25519 (node:crypto sign, ${d.workers} process${d.workers > 1 ? "es" : ""}) | MintToken baseline | loop | ${num(d.ed25519OpsPerSec)} | | | | | | |`,
    );
  return lines.join("\n");
}

function ratioTable(list) {
  return [
    "| ratio (same run) | value | goal | |",
    "|---|---:|---|---|",
    ...list.map(
      (r) =>
        `| ${r.name} | ${r.value} | ${r.goal} | ${r.met === null ? "info" : r.met ? "met" : "**missed**"} |`,
    ),
  ].join("\n");
}

function machine() {
  return {
    hostname: hostname(),
    cpuModel: cpus()[0]?.model ?? "unknown",
    cpus: cpus().length,
    memGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    kernel: release(),
    node: process.version,
  };
}

function section(d, list, m) {
  const date = new Date(d.started).toISOString().replace(/\.\d+Z$/, "Z");
  const rss = d.rss.big
    .map((p) => `${p.primary ? "primary" : "worker"} ${p.rssMiB.toFixed(0)} MiB`)
    .join(", ");
  return `${SECTION}

Produced by \`npm run bench\` (bench/run.mjs; the protocol of BENCHMARK.md: every figure is a
ratio against targets measured in the same run, same load generator, same machine).

- **Date:** ${date}; \`node bench/run.mjs\` took ${Math.round(d.seconds)} s (plus the build).
- **Machine:** ${m.cpuModel}, ${m.cpus} cores, ${m.memGiB} GiB, Linux ${m.kernel}; Node ${m.node}.
- **Load:** ${d.versions.h2load}, one thread: throughput \`-n ${d.settings.n} -c 4 -m 32 -t 1\`
  (after ${d.settings.warmup.toLocaleString("en-US")} warm-up requests), serial \`-n ${d.settings.serial} -c 1 -m 1\`,
  latency percentiles open-loop with \`--rps\` at 50% and 80% of Cerbos's throughput for ${d.settings.openLoopSeconds} s each, every latency logged.${
    d.settings.httpConnections
      ? `
  The AuthZEN cases (plain HTTP/1.1 JSON) \`--h1 -c ${d.settings.httpConnections} -m 1\`: one request in flight per connection, no pipelining.`
      : ""
  }
  The targets take turns in ${d.rounds} interleaved rounds, each measured alone: every other target's processes
  are paused (SIGSTOP) while it runs, so idle servers' timers, GC and threads do not share the two cores. Each
  figure is the best round (highest req/s, lowest serial mean, lowest open-loop p99), since other work on a
  shared machine only slows a round down.
- **Targets:** Tessera \`serve ${d.workersFlag ? `--workers ${d.workers}` : "(one process: no --workers flag)"}\`
  (the 5-rule one also holds bench/scenario/mesh.yaml for the mesh cases: a RouteMap and one rule of a
  resource kind of its own, never a candidate for the scenario's requests);
  limit = bare grpc-js + protobuf-es decode, constant answer, ${d.workers} cluster worker(s);
  ${d.versions.cerbos} (disk store, \`--log-level=warn\`, no telemetry). Each answer was checked with a real
  gRPC client first (ALLOW / EFFECT_ALLOW; ext_authz: OK with ok_response), each AuthZEN answer with an HTTP
  client (decision true), and h2load's responses were all 200 with the expected body size.

![Throughput per case](bench/results/chart.svg)

${table(d)}

${ratioTable(list)}

The tail, every latency of the best open-loop round (h2load \`--log-file\`) by percentile, at 50% and
80% of Cerbos's best throughput (4 connections, \`--rps\` each; the longest event-loop pause of a
Tessera worker comes from bench/loop-probe.cjs, a 1 ms timer preloaded into every Tessera process):

![Latency by percentile at 50%](bench/results/latency.svg)
![Latency by percentile at 80%](bench/results/latency-80.svg)

RSS per process with 100,000 agents and 10,005 rules, after the load: ${rss}.
${soakText(d.soak)}
${overloadText(d.overload)}
${d.skipped.map((s) => `Not measured: ${s}.`).join("\n")}
Raw figures: [bench/results/latest.json](bench/results/latest.json).
`;
}

const SERIES_NAME = { tessera: "Tessera", cerbos: "Cerbos", limit: "limit" };

function soakText(s) {
  if (!s) return "";
  const l = s.latency;
  const row = (p) =>
    `${p.role} ${p.startMiB.toFixed(0)} → ${p.endMiB.toFixed(0)} MiB (max ${p.maxMiB.toFixed(0)}; last ${minutes(s.flatness.windowSeconds)} min: ${p.slopeMiBPerMin.toFixed(2)} MiB/min, +${p.growthMiB.toFixed(1)} MiB, ${p.flat ? "flat" : "not flat"})`;
  const pause = s.longestPause
    ? ` Longest event-loop pause over the soak: ${s.longestPause.maxPauseMs.toFixed(1)} ms (its process used ${s.longestPause.maxPauseCpuMs?.toFixed(1)} ms of CPU meanwhile).`
    : "";
  return `
Soak (issue #15, last): the big Tessera (100,000 agents, 10,005 rules) answering Authorize (attributes)
in an open loop at ${num(s.rate)} req/s (50% of Cerbos's best) for ${s.seconds} s, RSS sampled every ${s.samples.length > 1 ? Math.round(s.samples[1].t) : "?"} s:
${s.flatness.processes.map(row).join("; ")}. Latency over the soak: p50 ${ms(l.p50Us)}, p99 ${ms(l.p99Us)},
p99.9 ${ms(l.p999Us)}, max ${ms(l.maxUs)}.${pause} Flat means ${s.flatness.rule}.
`;
}

function overloadText(o) {
  if (!o) return "";
  return `
Overload (5-rule Tessera, measured alone, last): h2load \`-D ${Math.round(o.seconds)} -c ${o.connections} -m ${o.streams}\` (${num(o.connections * o.streams)} calls
offered at once; the throughput case keeps 128 in flight) while a client on its own connection sends one
Authorize and one \`GET /healthz\` every 50 ms. Answered ${num(o.goodputPerSec)} Authorize/s (best throughput
${num(o.sustainable)}/s); ${num(o.refused)} OVERLOADED answers and ${num(o.refusedStreams)} streams refused before they started
(REFUSED_STREAM: opened before the server's SETTINGS arrived). The probing client: ${o.probeAccepted} of ${o.probeCalls}
Authorize calls accepted, p99 ${o.probeP99Ms?.toFixed(1)} ms; /healthz on the ${o.healthzOn ?? "HTTP port"} p99 ${o.healthzP99Ms.toFixed(1)} ms, max ${o.healthzMaxMs.toFixed(1)} ms,
${o.healthzNotServing} answers NOT_SERVING${o.httpHealthzP99Ms === undefined || o.healthzOn !== "health port" ? "" : ` (on the HTTP port, in the workers: p99 ${o.httpHealthzP99Ms.toFixed(1)} ms)`}; largest worker RSS during the load ${o.rssMaxMiB.toFixed(0)} MiB; back to normal
(/healthz SERVING and an Authorize within 10 ms) ${o.recoveryMs === undefined ? "not within 30 s" : `${o.recoveryMs.toFixed(0)} ms`} after the load stopped.
`;
}

/** Replaces this benchmark's section of BENCHMARKS.md (from its heading to the next `## `). */
export function updateMarkdown(text, path = join(ROOT, "BENCHMARKS.md")) {
  const old = existsSync(path) ? readFileSync(path, "utf8") : "# Benchmarks\n";
  const start = old.indexOf(`${SECTION}\n`);
  let next;
  if (start < 0) next = `${old.trimEnd()}\n\n${text}`;
  else {
    const rest = old.slice(start + SECTION.length);
    const end = rest.search(/^## /m);
    next = `${old.slice(0, start)}${text}${end < 0 ? "" : `\n${rest.slice(end)}`}`;
  }
  writeFileSync(path, `${next.trimEnd()}\n`);
}

/**
 * One `BENCH_ONLY=<group>` run's ending: the ratios on stdout after `tables`, the raw figures
 * (with `extra` fields) in bench/results/<group>.json, and how many goals were met. BENCHMARKS.md
 * is left alone (its dated sections are written by hand).
 */
function groupSummary(d, group, label, list, extra = {}, tables = table(d)) {
  console.log(`\n${tables}\n\n${ratioTable(list)}\n`);
  mkdirSync(RESULTS, { recursive: true });
  const json = {
    date: new Date(d.started).toISOString(),
    command: `BENCH_ONLY=${group} node bench/run.mjs`,
    seconds: Number(d.seconds.toFixed(1)),
    machine: machine(),
    workers: d.workers,
    versions: { ...d.versions, node: process.version },
    settings: d.settings,
    rounds: d.rounds,
    results: d.rows.map((r) => ({ ...r, case: caseLabel(r.target, r.caseId) })),
    allRounds: d.allRounds,
    ...extra,
    ratios: list,
  };
  writeFileSync(join(RESULTS, `${group}.json`), `${JSON.stringify(json, null, 2)}\n`);
  const goals = list.filter((r) => r.met !== null);
  const missed = goals.filter((r) => !r.met);
  console.log(
    `${goals.length - missed.length}/${goals.length} ${label} goals met${missed.length ? `; missed: ${missed.map((r) => r.name).join("; ")}` : ""}`,
  );
  console.log(`wrote bench/results/${group}.json`);
}

/**
 * `BENCH_ONLY=mesh`: the mesh cases' table and goals on stdout, their raw figures in
 * bench/results/mesh.json. BENCHMARKS.md is left alone (its dated sections are written by hand).
 */
export function meshSummary(d) {
  groupSummary(d, "mesh", "mesh", meshRatios(d.rows));
}

/**
 * The JSON path's goals (issue #15), per protocol where both sides ran: Tessera's Connect JSON
 * Authorize against Cerbos's REST check and against bare connect-node (the HTTP port's limit).
 */
export function jsonRatios(rows) {
  const out = [];
  for (const [caseId, proto] of [
    ["json", "HTTP/1.1"],
    ["json-h2c", "h2c"],
  ]) {
    const rps = (t) => find(rows, t, caseId)?.reqPerSec;
    const cpu = (t) => find(rows, t, caseId)?.cpuUsPerReq;
    if (!rps("tessera")) continue;
    if (rps("cerbos"))
      out.push(
        atLeast(
          `Connect JSON Authorize / Cerbos REST check, req/s (${proto})`,
          rps("tessera") / rps("cerbos"),
          1.5,
        ),
      );
    if (rps("limit"))
      out.push(
        atLeast(
          `Connect JSON Authorize / bare connect-node, req/s (${proto})`,
          rps("tessera") / rps("limit"),
          0.85,
        ),
      );
    if (cpu("tessera") && cpu("cerbos"))
      out.push(
        info(`server CPU per request, Cerbos REST / Tessera JSON (${proto})`, cpu("cerbos") / cpu("tessera")),
      );
    if (cpu("tessera") && cpu("limit"))
      out.push(
        info(
          `server CPU per request, bare connect-node / Tessera JSON (${proto})`,
          cpu("limit") / cpu("tessera"),
        ),
      );
  }
  return out;
}

/** `BENCH_ONLY=json`: the table, the goals, bench/results/json.json. */
export function jsonSummary(d) {
  groupSummary(d, "json", "JSON-path", jsonRatios(d.rows), { h2c: d.h2c });
}

/**
 * `BENCH_ONLY=mint`: MintToken and its signing limit, the table and goal on stdout, the raw
 * figures in bench/results/mint.json. BENCHMARKS.md is left alone (its dated sections are
 * written by hand).
 */
export function mintSummary(d) {
  const list = mintRatios(d.rows, d.ed25519OpsPerSec);
  if (d.ed25519OpsPerSec && find(d.rows, "tessera", "mint"))
    list.push(
      info(
        "MintToken req/s / raw Ed25519 signatures/s",
        find(d.rows, "tessera", "mint").reqPerSec / d.ed25519OpsPerSec,
      ),
    );
  groupSummary(d, "mint", "MintToken", list, { rawEd25519OpsPerSec: d.ed25519OpsPerSec });
}

/** Nearest-rank percentile `q` (0–1) of `values`. */
function percentile(values, q) {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

/** The convergence samples summed up, overall and per kind of change. */
export function convergenceStats(samples) {
  const stats = (list) => {
    const ms = list.map((s) => s.ms);
    return {
      changes: list.length,
      notConverged: list.filter((s) => !s.converged).length,
      p50Ms: percentile(ms, 0.5),
      p99Ms: percentile(ms, 0.99),
      maxMs: Math.max(...ms),
      writeP50Ms: percentile(
        list.map((s) => s.writeMs),
        0.5,
      ),
      pollsP50: percentile(
        list.map((s) => s.calls),
        0.5,
      ),
      // One Authorize of B, polled back to back: the resolution of the figures above.
      pollMeanMs: list.reduce((sum, s) => sum + s.ms, 0) / list.reduce((sum, s) => sum + s.calls, 0),
    };
  };
  const kinds = [...new Set(samples.map((s) => s.kind))];
  return {
    all: stats(samples),
    byKind: Object.fromEntries(kinds.map((k) => [k, stats(samples.filter((s) => s.kind === k))])),
  };
}

/**
 * The replicas goals (issue #14): Authorize on a PostgreSQL store against SQLite (same run,
 * same load), and how soon a change made through one replica shows on another.
 */
export function replicaRatios(rows, conv) {
  const out = [];
  const rps = (c) => find(rows, "tessera", c)?.reqPerSec;
  const cpu = (c) => find(rows, "tessera", c)?.cpuUsPerReq;
  if (rps("pg") && rps("attrs"))
    out.push(
      atLeast("Authorize (attributes), PostgreSQL store / SQLite, req/s", rps("pg") / rps("attrs"), 0.95),
    );
  if (cpu("pg") && cpu("attrs")) {
    out.push(
      info(
        "Tessera's CPU per request, SQLite / PostgreSQL store (PostgreSQL's own processes not counted)",
        cpu("attrs") / cpu("pg"),
      ),
    );
    // The decisions' inserts run in PostgreSQL's processes, on the same cores when it is local.
    const db = find(rows, "tessera", "pg")?.dbCpuUsPerReq;
    if (db !== undefined) {
      out.push(info("PostgreSQL's CPU per request (this database's backends, same machine), µs", db, 1));
      out.push(
        info(
          "CPU per request, SQLite Tessera / PostgreSQL Tessera and its database",
          cpu("attrs") / (cpu("pg") + db),
        ),
      );
    }
  }
  if (conv) {
    const c = conv.all;
    out.push(atMost(`convergence between two replicas, p99 of ${c.changes} changes, ms`, c.p99Ms, 1000, 1));
    out.push(info("convergence, p99, ms (on a quiet machine)", c.p99Ms, 1, "≤ 100"));
    out.push(info("convergence, p50, ms", c.p50Ms, 1));
    if (c.notConverged) out.push(info("changes not seen on replica B within 10 s", c.notConverged, 0));
  }
  return out;
}

function convergenceTable(conv) {
  const f = (v) => `${v.toFixed(1)} ms`;
  const line = (what, c) =>
    `| ${what} | ${c.changes} | ${f(c.p50Ms)} | ${f(c.p99Ms)} | ${f(c.maxMs)} | ${f(c.writeP50Ms)} | ${c.pollsP50} | ${f(c.pollMeanMs)} |`;
  return [
    "| change through replica A | n | until B refuses, p50 | p99 | max | A's answer, p50 | polls of B, p50 | B polled every (mean) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    ...Object.entries(conv.byKind).map(([kind, c]) => line(kind, c)),
    line("all", conv.all),
  ].join("\n");
}

/**
 * `BENCH_ONLY=replicas`: the replicas cases' tables and goals on stdout, their raw figures in
 * bench/results/replicas.json. BENCHMARKS.md is left alone (its dated sections are written by hand).
 */
export function replicasSummary(d) {
  const conv = d.convergence?.length ? convergenceStats(d.convergence) : undefined;
  const list = replicaRatios(d.rows, conv);
  const tables = `${table(d)}${conv ? `\n\n${convergenceTable(conv)}` : ""}`;
  groupSummary(
    d,
    "replicas",
    "replicas",
    list,
    { convergence: conv, convergenceSamples: d.convergence },
    tables,
  );
}

export function report(d) {
  const list = ratios(d);
  const m = machine();
  console.log(`\n${table(d)}\n\n${ratioTable(list)}\n`);
  mkdirSync(RESULTS, { recursive: true });
  const json = {
    date: new Date(d.started).toISOString(),
    command: "npm run bench",
    seconds: Number(d.seconds.toFixed(1)),
    machine: m,
    workers: d.workers,
    workersFlag: d.workersFlag,
    versions: { ...d.versions, node: process.version },
    settings: d.settings,
    openLoopRate: d.openLoopRate,
    rounds: d.rounds,
    results: d.rows.map((r) => ({ ...r, case: caseLabel(r.target, r.caseId) })),
    allRounds: d.allRounds,
    rawEd25519OpsPerSec: d.ed25519OpsPerSec,
    rssMiB: d.rss,
    ratios: list,
    skipped: d.skipped,
  };
  writeFileSync(join(RESULTS, "latest.json"), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(RESULTS, "chart.svg"), chartSvg(d, find, json.date));
  for (const [mode, file, share] of [
    ["open-loop", "latency.svg", "50%"],
    ["open-loop-80", "latency-80.svg", "80%"],
  ]) {
    const series = ["tessera", "cerbos", "limit"]
      .map((t) => ({ t, row: find(d.rows, t, "attrs", mode) }))
      .filter(({ row }) => row?.latency)
      .map(({ t, row }) => ({ name: SERIES_NAME[t], latency: row.latency }));
    if (series.length)
      writeFileSync(
        join(RESULTS, file),
        latencyChart(series, {
          title: `Authorize latency by percentile, open loop at ${num(find(d.rows, "tessera", "attrs", mode).targetRate)} req/s (${share} of Cerbos's best)`,
          subtitle: `npm run bench, ${json.date}; every request of the best round (h2load --log-file)`,
        }),
      );
  }
  updateMarkdown(section(d, list, m));
  const goals = list.filter((r) => r.met !== null);
  const missed = goals.filter((r) => !r.met);
  console.log(
    `${goals.length - missed.length}/${goals.length} goals met${missed.length ? `; missed: ${missed.map((r) => r.name).join("; ")}` : ""}`,
  );
  console.log("wrote bench/results/latest.json, bench/results/chart.svg, BENCHMARKS.md");
}
