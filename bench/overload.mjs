// The overload case (issue #11): far more concurrent calls than the server can answer, from
// h2load, while a well-behaved client probes /healthz and Authorize on their own connections.
// Measures goodput (answers with a decision, not refusals), the probe's p99, /healthz latency,
// worker RSS during the load, and how long the server takes to be back to normal afterwards.
import http from "node:http";
import { grpcClient } from "./grpc-call.mjs";
import { parseReport } from "./h2load.mjs";
import { rssMiB, runOk } from "./proc.mjs";

/** h2load's load: 200 connections × 100 streams = 20,000 calls in flight (the reproduction). */
export const OVERLOAD = { c: 200, m: 100 };
const PROBE_EVERY_MS = 50;
/** Back to normal: /healthz 200 and an Authorize answered within this, after the load stops. */
const NORMAL_MS = 10;

const quantile = (list, p) => {
  const s = [...list].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : undefined;
};

/** GET /healthz on `port`; resolves { ms, status } (status 0 when it failed or took over 5 s). */
function healthz(port) {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.get(
      { host: "127.0.0.1", port, path: "/healthz", timeout: 5000, agent: false },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ ms: performance.now() - t0, status: res.statusCode }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve({ ms: performance.now() - t0, status: 0 }));
  });
}

/** A client on its own long-lived connection: one Authorize, resolved as { ms, ok }. */
function authorizeProbe(c, method, message) {
  const client = grpcClient(new URL(c.url).port);
  const call = () => {
    const t0 = performance.now();
    const done = (ok) => ({ ms: performance.now() - t0, ok });
    return client.call(method, message, c.headers ?? {}, 5000).then(
      () => done(true),
      () => done(false),
    );
  };
  return { call, close: client.close };
}

/**
 * Runs the overload against case `c` (an Authorize case of `target`) for `seconds`. `sustainable`
 * is the case's best throughput (req/s) from the same run.
 */
export async function overload(c, target, { method, message, sustainable, seconds = 10 }) {
  const probe = authorizeProbe(c, method, message);
  await probe.call(); // connected before the load starts
  const health = [];
  const httpHealth = [];
  const authz = [];
  let rssMax = 0;
  let loading = true;
  const probing = (async () => {
    while (loading) {
      const [h, hh, a] = await Promise.all([
        healthz(target.healthPort ?? target.httpPort),
        healthz(target.httpPort),
        probe.call(),
      ]);
      health.push(h);
      httpHealth.push(hh);
      authz.push(a);
      for (const pid of target.pids().slice(1)) rssMax = Math.max(rssMax, rssMiB(pid));
      await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
    }
  })();
  const args = ["-D", String(seconds), "-c", String(OVERLOAD.c), "-m", String(OVERLOAD.m), "-t", "1"];
  args.push("-d", c.body, "-H", "content-type: application/grpc", "-H", "te: trailers");
  for (const [k, v] of Object.entries(c.headers ?? {})) args.push("-H", `${k}: ${v}`);
  args.push(c.url);
  let report;
  try {
    const { stdout } = await runOk("h2load", args, { timeoutMs: (seconds + 60) * 1000 });
    report = parseReport(stdout);
  } finally {
    loading = false;
    await probing;
  }
  const stopped = performance.now();
  // Back to normal: the first moment /healthz says SERVING and an Authorize is quick again.
  let recoveryMs;
  while (performance.now() - stopped < 30_000) {
    const [h, a] = await Promise.all([healthz(target.healthPort ?? target.httpPort), probe.call()]);
    if (h.status === 200 && a.ok && a.ms <= NORMAL_MS) {
      recoveryMs = performance.now() - stopped;
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  probe.close();
  // A decision carries a response message; a refusal (OVERLOADED) is trailers only, no data.
  // Answers finishing after h2load's window still count their bytes: never more than it counted done.
  const answered = Math.min(report.done, Math.round(report.dataBytes / c.expectBytes));
  const accepted = authz.filter((a) => a.ok).map((a) => a.ms);
  return {
    seconds: report.seconds,
    offeredPerSec: report.done / report.seconds,
    goodputPerSec: answered / report.seconds,
    goodputOfBest: answered / report.seconds / sustainable,
    // OVERLOADED answers (trailers only), and streams refused before they started (REFUSED_STREAM:
    // h2load opens its first 100 per connection before the server's SETTINGS arrive; clients retry them).
    refused: Math.max(0, report.done - answered - report.failed),
    refusedStreams: report.failed,
    probeCalls: authz.length,
    probeAccepted: accepted.length,
    probeP99Ms: quantile(accepted, 0.99),
    healthzP99Ms: quantile(
      health.map((h) => h.ms),
      0.99,
    ),
    healthzMaxMs: Math.max(...health.map((h) => h.ms)),
    healthzNotServing: health.filter((h) => h.status !== 200).length,
    // Where /healthz was asked: the health port (answered by the primary) when there is one.
    healthzOn: target.healthPort ? "health port" : "HTTP port",
    httpHealthzP99Ms: quantile(
      httpHealth.map((h) => h.ms),
      0.99,
    ),
    rssMaxMiB: rssMax,
    recoveryMs,
  };
}
