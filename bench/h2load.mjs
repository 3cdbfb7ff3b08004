// h2load as a gRPC load generator: install it when missing, write request bodies, run it,
// and read its report (and its per-request log for percentiles) strictly.
import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readLatencyLog } from "./latency.mjs";
import { runOk } from "./proc.mjs";

/** Installs nghttp2-client when h2load is not on PATH; returns h2load's version line. */
export async function ensureH2load() {
  const has = () => spawnSync("sh", ["-c", "command -v h2load"], { encoding: "utf8" }).status === 0;
  if (!has()) {
    console.log("h2load not found: installing nghttp2-client with apt-get");
    const env = { DEBIAN_FRONTEND: "noninteractive" };
    await runOk("apt-get", ["update", "-q"], { env, timeoutMs: 180_000 });
    await runOk("apt-get", ["install", "-y", "-q", "--no-install-recommends", "nghttp2-client"], {
      env,
      timeoutMs: 180_000,
    });
    if (!has()) throw new Error("h2load is still missing after installing nghttp2-client");
  }
  const help = spawnSync("h2load", ["--help"], { encoding: "utf8" }).stdout ?? "";
  if (!help.includes("--rps") || !help.includes("--log-file"))
    throw new Error("this h2load has no --rps/--log-file; the open-loop measurement needs both");
  return spawnSync("h2load", ["--version"], { encoding: "utf8" }).stdout.trim();
}

/** One gRPC length-prefixed message (flag 0, 4-byte big-endian length, bytes) in a file. */
export function writeGrpcBody(dir, name, bytes) {
  const frame = Buffer.alloc(5 + bytes.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(bytes.length, 1);
  Buffer.from(bytes).copy(frame, 5);
  const path = join(dir, `${name}.bin`);
  writeFileSync(path, frame);
  return path;
}

/** A plain request body (an HTTP case's JSON) in a file. */
export function writeBody(dir, name, text) {
  const path = join(dir, `${name}.body`);
  writeFileSync(path, text);
  return path;
}

const UNIT_US = { us: 1, ms: 1000, s: 1_000_000 };
const toUs = (v) => {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v);
  if (!m) throw new Error(`h2load: cannot read the duration "${v}"`);
  return Number(m[1]) * UNIT_US[m[2]];
};

/** The figures of an h2load report; throws when a line it must have is missing. */
export function parseReport(text) {
  const need = (re, what) => {
    const m = re.exec(text);
    if (!m) throw new Error(`h2load output has no ${what} line:\n${text}`);
    return m;
  };
  const fin = need(/finished in ([\d.]+)(us|ms|s), ([\d.]+) req\/s/, "'finished in'");
  const req = need(
    /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/,
    "'requests:'",
  );
  const st = need(/status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/, "'status codes:'");
  const traffic = need(
    /traffic: .*?\((\d+)\) total, .*?\((\d+)\) headers.*?, .*?\((\d+)\) data/,
    "'traffic:'",
  );
  const t = need(/time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)/, "'time for request:'");
  const [total, started, done, succeeded, failed, errored, timeout] = req.slice(1).map(Number);
  return {
    seconds: toUs(`${fin[1]}${fin[2]}`) / 1e6,
    reqPerSec: Number(fin[3]),
    total,
    started,
    done,
    succeeded,
    failed,
    errored,
    timeout,
    status2xx: Number(st[1]),
    non2xx: Number(st[2]) + Number(st[3]) + Number(st[4]),
    dataBytes: Number(traffic[3]),
    minUs: toUs(t[1]),
    maxUs: toUs(t[2]),
    meanUs: toUs(t[3]),
  };
}

/**
 * Latency record (µs) of h2load's --log-file (start µs, status, duration µs per line): count,
 * bad (not 200), minUs, meanUs, maxUs, p50Us, p90Us, p99Us, p999Us, p9999Us (nearest rank over
 * every latency) and the HdrHistogram-style distribution; see latency.mjs. Throws on a bad line.
 */
export function logPercentiles(path) {
  return readLatencyLog(path);
}

/**
 * Runs h2load against one gRPC method (or, with `target.h1`, one plain HTTP/1.1 POST endpoint;
 * with `target.plain` and no `h1`, one plain POST endpoint over h2c)
 * and checks every request came back 200 with a body of the expected size (a gRPC error has no
 * message, a DENY a different one). Options: n, c, m, rps (per connection), logFile,
 * expectBytes (the framed response size), timeoutMs. Over HTTP/1.1, -m is h2load's pipelining
 * depth: the HTTP cases keep it at 1 and take their concurrency from -c instead.
 */
export async function h2load(target, { n, c, m, rps, logFile, timeoutMs = 120_000 }) {
  const args = ["-n", String(n), "-c", String(c), "-m", String(m), "-t", "1", "-d", target.body];
  if (target.h1) args.push("--h1");
  // A plain HTTP case over h2c (prior knowledge) brings its own headers; gRPC needs these.
  else if (!target.plain) args.push("-H", "content-type: application/grpc", "-H", "te: trailers");
  for (const [k, v] of Object.entries(target.headers ?? {})) args.push("-H", `${k}: ${v}`);
  if (rps) args.push(`--rps=${rps}`);
  if (logFile) {
    rmSync(logFile, { force: true }); // h2load appends to an existing log
    args.push(`--log-file=${logFile}`);
  }
  args.push(target.url);
  const { stdout, stderr } = await runOk("h2load", args, { timeoutMs });
  const r = parseReport(stdout);
  const problems = [];
  if (r.done !== n || r.succeeded !== n) problems.push(`${r.succeeded}/${n} succeeded`);
  if (r.failed || r.errored || r.timeout)
    problems.push(`${r.failed} failed, ${r.errored} errored, ${r.timeout} timeout`);
  if (r.status2xx !== n || r.non2xx) problems.push(`${r.status2xx} 2xx, ${r.non2xx} non-2xx`);
  const perReq = r.dataBytes / Math.max(1, r.done);
  if (target.expectBytes && Math.abs(perReq - target.expectBytes) > Math.max(4, 0.02 * target.expectBytes))
    problems.push(
      `${perReq.toFixed(1)} response bytes per request, expected ${target.expectBytes} (gRPC errors?)`,
    );
  if (logFile) {
    r.log = logPercentiles(logFile);
    if (r.log.count !== n || r.log.bad)
      problems.push(`log: ${r.log.count} lines for ${n} requests, ${r.log.bad} not 200`);
  }
  if (problems.length) throw new Error(`h2load ${target.label}: ${problems.join("; ")}\n${stdout}${stderr}`);
  return r;
}
