#!/usr/bin/env node
// QueryDecisions against a big decision log (issue #13: "answers within 100 ms for the last hour
// with 10 million decisions stored"). Fills a SQLite store (real migrations, then direct inserts of
// segments, as the writer thread stores them) and times the queries QueryDecisions runs, in process,
// through the same AuditQueries class the RPC calls.
//
//   npm run build && node bench/decisions-query.mjs [--decisions 10000000] [--orgs 5] [--days 30]
//     [--per-segment 100] [--runs 20] [--dir DIR] [--keep]
//
// Prints one JSON object: the fill, and per query the median, p95 and max in ms.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";

const { values: o } = parseArgs({
  options: {
    decisions: { type: "string", default: "10000000" },
    orgs: { type: "string", default: "5" },
    days: { type: "string", default: "30" },
    "per-segment": { type: "string", default: "100" },
    runs: { type: "string", default: "20" },
    dir: { type: "string" },
    keep: { type: "boolean", default: false },
  },
});
const N = Number(o.decisions);
const ORGS = Number(o.orgs);
const SPAN_MS = Number(o.days) * 86_400_000;
const PER_SEGMENT = Number(o["per-segment"]);
const RUNS = Number(o.runs);

const { openDatabase, databasePath } = await import("../dist/src/store/db.js").catch(
  () => import("../dist/store/db.js"),
);
const { AuditQueries } = await import("../dist/src/core/audit-query.js").catch(
  () => import("../dist/core/audit-query.js"),
);

const dir = o.dir ?? mkdtempSync(join(tmpdir(), "tessera-bench-decisions-"));
openDatabase(dir).close(); // schema and every migration, as a server would
const db = new Database(databasePath(dir));
db.pragma("journal_mode = WAL");
db.pragma("synchronous = OFF");

const now = Date.now();
const start = now - SPAN_MS;
const orgId = (i) => `org_${i}`;
const insert = db.prepare(
  "INSERT INTO decision_segments (org_id, first_at_ms, last_at_ms, count, records) VALUES (?, ?, ?, ?, ?)",
);
const segments = Math.ceil(N / PER_SEGMENT);
const step = SPAN_MS / N;
const t0 = performance.now();
const fill = db.transaction((from, to) => {
  for (let s = from; s < to; s++) {
    const parts = [];
    let first = 0;
    let last = 0;
    for (let k = 0; k < PER_SEGMENT; k++) {
      const i = s * PER_SEGMENT + k;
      if (i >= N) break;
      const at = Math.floor(start + i * step);
      if (k === 0) first = at;
      last = at;
      const allowed = i % 7 !== 0;
      parts.push(
        JSON.stringify([
          `0b7e${i.toString(16).padStart(12, "0")}-4c1a-9d2e-7f3b1c2d4e5f`,
          at,
          `agt_${(i % 5000).toString(36).padStart(8, "0")}`,
          i % 3 ? "reports:read" : "reports:write",
          "report",
          `rpt_${i % 100_000}`,
          allowed ? 1 : 0,
          allowed ? "RULE_MATCHED" : "NO_MATCHING_RULE",
          allowed ? "reports/readers" : "",
          42,
          "api_key:key_3f9a2c",
        ]),
      );
    }
    insert.run(orgId(s % ORGS), first, last, parts.length, `[${parts.join(",")}]`);
  }
});
for (let s = 0; s < segments; s += 2000) fill(s, Math.min(segments, s + 2000));
db.pragma("wal_checkpoint(TRUNCATE)");
const fillSeconds = (performance.now() - t0) / 1000;
db.close();

// The server's connections: the admin one and the decision log's (as openStore opens them).
const adminDb = new Database(databasePath(dir));
const logDb = new Database(databasePath(dir));
const q = new AuditQueries(adminDb, logDb);
const lastHour = { orgId: orgId(0), fromMs: now - 3_600_000 };

function time(name, run) {
  run(); // warm: statements prepared, pages cached
  const ms = [];
  let detail;
  for (let r = 0; r < RUNS; r++) {
    const t = performance.now();
    detail = run();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  const at = (p) => Number(ms[Math.min(ms.length - 1, Math.floor(p * ms.length))].toFixed(2));
  return { name, medianMs: at(0.5), p95Ms: at(0.95), maxMs: at(1), ...detail };
}

const results = [
  time("last hour, first page of 100, oldest first", () => ({
    records: q.queryDecisions({ ...lastHour, limit: 100 }).records.length,
  })),
  time("last hour, first page of 100, newest first", () => ({
    records: q.queryDecisions({ ...lastHour, limit: 100, newestFirst: true }).records.length,
  })),
  time("last hour, denies only, page of 100", () => ({
    records: q.queryDecisions({ ...lastHour, allowed: false, limit: 100 }).records.length,
  })),
  time("last hour, one subject (scans the whole hour)", () => ({
    records: q.queryDecisions({ ...lastHour, subjectId: "agt_00000001", limit: 1000 }).records.length,
  })),
  time("last hour, every decision, pages of 1000", () => {
    let cursor = "";
    let records = 0;
    let pages = 0;
    for (;;) {
      const page = q.queryDecisions({ ...lastHour, limit: 1000, cursor });
      records += page.records.length;
      pages++;
      cursor = page.nextCursor;
      if (!page.hasMore) return { records, pages };
    }
  }),
];
adminDb.close();
logDb.close();
const bytes = statSync(databasePath(dir)).size;
console.log(
  JSON.stringify(
    {
      decisions: N,
      orgs: ORGS,
      days: Number(o.days),
      perSegment: PER_SEGMENT,
      decisionsInLastHourForOneOrg: Math.round(N / (SPAN_MS / 3_600_000) / ORGS),
      databaseMiB: Math.round(bytes / 2 ** 20),
      fillSeconds: Number(fillSeconds.toFixed(1)),
      runs: RUNS,
      results,
    },
    null,
    2,
  ),
);
if (!o.keep && !o.dir) rmSync(dir, { recursive: true, force: true });
