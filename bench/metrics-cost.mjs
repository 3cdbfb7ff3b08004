// What metrics cost Authorize (issue #13: at most 3% of its throughput). Two servers, one with
// metrics (the default) and one with --no-metrics --slow-call-ms 0, measured in alternating
// rounds with h2load on the same request; the medians are compared. Request ids stay on in both:
// they are not optional. Run after `npm run build`: node bench/metrics-cost.mjs (BENCH_N, ROUNDS).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { AuthorizeRequestSchema } from "../dist/gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../dist/gen/tessera/v1/types_pb.js";
import { ensureH2load, parseReport, writeGrpcBody } from "./h2load.mjs";
import { freePorts, start, stop, waitFor } from "./proc.mjs";

const N = Number(process.env.BENCH_N ?? 50_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const dir = mkdtempSync(join(tmpdir(), "tessera-metrics-cost-"));

const body = writeGrpcBody(
  dir,
  "authorize",
  toBinary(
    AuthorizeRequestSchema,
    create(AuthorizeRequestSchema, {
      subject: {
        case: "attributes",
        value: { id: "bench-subject", tier: Tier.VERIFIED, roles: ["operator"] },
      },
      scope: "governance:propose",
      resource: { kind: "tool", id: "t1" },
    }),
  ),
);

async function serve(name, extra) {
  const [grpcPort, httpPort] = await freePorts(2);
  const data = join(dir, name);
  const args = ["bin/tessera.js", "serve", "--data-dir", data, "--workers", "1", "--log-format", "json"];
  const proc = start(name, process.execPath, [
    ...args,
    ...["--grpc-port", String(grpcPort), "--http-port", String(httpPort), ...extra],
  ]);
  const apiKey = await waitFor("the dev org's API key", () => /TESSERA_API_KEY=(\S+)/.exec(proc.out)?.[1], {
    timeoutMs: 60_000,
    proc,
  });
  return { proc, grpcPort, apiKey };
}

function load(s, n) {
  const r = spawnSync(
    "h2load",
    [
      ...["-n", String(n), "-c", "4", "-m", "32", "-t", "1", "-d", body],
      ...["-H", "content-type: application/grpc", "-H", "te: trailers", "-H", `x-api-key: ${s.apiKey}`],
      `http://127.0.0.1:${s.grpcPort}/tessera.v1.AuthService/Authorize`,
    ],
    { encoding: "utf8", timeout: 300_000 },
  );
  const report = parseReport(r.stdout);
  if (report.status2xx !== n) throw new Error(`h2load: ${report.status2xx} of ${n} answered 2xx`);
  return report.reqPerSec;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(await ensureH2load());
const on = await serve("metrics-on", []);
const off = await serve("metrics-off", ["--no-metrics", "--slow-call-ms", "0"]);
try {
  load(on, Math.min(N, 10_000));
  load(off, Math.min(N, 10_000));
  const rps = { on: [], off: [] };
  for (let i = 0; i < ROUNDS; i++) {
    // Alternating which goes first, so a drift in the machine's load favours neither.
    const order = i % 2 === 0 ? ["on", "off"] : ["off", "on"];
    for (const which of order) rps[which].push(load(which === "on" ? on : off, N));
    console.log(`round ${i + 1}: on ${rps.on.at(-1)} req/s, off ${rps.off.at(-1)} req/s`);
  }
  const cost = (1 - median(rps.on) / median(rps.off)) * 100;
  console.log(
    `median: on ${median(rps.on)} req/s, off ${median(rps.off)} req/s; metrics cost ${cost.toFixed(1)}%`,
  );
} finally {
  await stop(on.proc);
  await stop(off.proc);
  rmSync(dir, { recursive: true, force: true });
}
