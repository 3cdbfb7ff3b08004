#!/usr/bin/env node
// QueryDecisions on PostgreSQL against a big decision log (issue #14; the goal of issue #13:
// "answers within 100 ms for the last hour with 10 million decisions stored"). The PostgreSQL
// twin of bench/decisions-query.mjs: creates a throwaway database (real migrations), fills it
// with the same segments through multi-row INSERTs on a few connections, times the same
// queries through PgDecisionQuery (the scan AuditQueries runs, with its page sizes and scan
// budget), and drops the database.
//
//   npm run build && node bench/pg-decisions-query.mjs [--url postgres://postgres@127.0.0.1:5432/postgres]
//     [--decisions 10000000] [--orgs 5] [--days 30] [--per-segment 100] [--runs 50] [--keep]
//     [--db NAME]   (time the queries on a database an earlier --keep run filled, with the same options)
//
// Prints one JSON object: the fill, and per query the median, p95 and max in ms.
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import pg from "pg";

const { values: o } = parseArgs({
  options: {
    url: {
      type: "string",
      default: process.env.TESSERA_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
    },
    decisions: { type: "string", default: "10000000" },
    orgs: { type: "string", default: "5" },
    days: { type: "string", default: "30" },
    "per-segment": { type: "string", default: "100" },
    runs: { type: "string", default: "50" },
    keep: { type: "boolean", default: false },
    db: { type: "string" },
  },
});
const N = Number(o.decisions);
const ORGS = Number(o.orgs);
const SPAN_MS = Number(o.days) * 86_400_000;
const PER_SEGMENT = Number(o["per-segment"]);
const RUNS = Number(o.runs);
const FILLERS = 4;
const SEGMENTS_PER_INSERT = 500;

const load = (path) => import(`../dist/src/${path}`).catch(() => import(`../dist/${path}`));
const { PgDb } = await load("store/postgres/pg-db.js");
const { migratePg } = await load("store/postgres/migrate.js");
const { PgDecisionQuery } = await load("store/postgres/decision-query.js");
const { DEFAULT_PAGE, MAX_PAGE, SCAN_BUDGET } = await load("core/audit-query.js");

const name = o.db ?? `tessera_bench_${process.pid}_${randomBytes(3).toString("hex")}`;
const admin = async (sql) => {
  const c = new pg.Client({ connectionString: o.url });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
};
const url = new URL(o.url);
url.pathname = `/${name}`;
if (!o.db) await admin(`CREATE DATABASE ${name}`);
const db = new PgDb(url.toString(), { max: FILLERS, statementTimeoutMs: 600_000, connectTimeoutMs: 60_000 });
try {
  await migratePg(db);
  // A reused database keeps its fill time: "now" is where its log ends.
  const end = o.db && (await db.one("SELECT max(last_at_ms) AS n FROM decision_segments"))?.n;
  const now = end ? end + 1 : Date.now();
  const start = now - SPAN_MS;
  const orgId = (i) => `org_${i}`;
  const segments = Math.ceil(N / PER_SEGMENT);
  const step = SPAN_MS / N;
  const segment = (s) => {
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
    return [orgId(s % ORGS), first, last, parts.length, `[${parts.join(",")}]`];
  };
  let nextChunk = 0;
  const t0 = performance.now();
  if (o.db) nextChunk = segments; // filled already
  // Chunks go in order per filler; seq order follows time closely enough (as a live log's does).
  const filler = async () => {
    for (;;) {
      const from = nextChunk;
      nextChunk += SEGMENTS_PER_INSERT;
      if (from >= segments) return;
      const cols = [[], [], [], [], []];
      for (let s = from; s < Math.min(segments, from + SEGMENTS_PER_INSERT); s++) {
        const row = segment(s);
        for (let c = 0; c < row.length; c++) cols[c].push(row[c]);
      }
      await db.query(
        `INSERT INTO decision_segments (org_id, first_at_ms, last_at_ms, count, records)
         SELECT o, f, l, c, r::json
           FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[])
                WITH ORDINALITY AS u(o, f, l, c, r, n) ORDER BY n`,
        cols,
      );
    }
  };
  await Promise.all(Array.from({ length: FILLERS }, filler));
  await db.query("VACUUM ANALYZE decision_segments");
  const fillSeconds = (performance.now() - t0) / 1000;
  const bytes = (await db.one("SELECT pg_total_relation_size('decision_segments') AS n")).n;

  const q = new PgDecisionQuery(db);
  const lastHour = { orgId: orgId(0), fromMs: now - 3_600_000 };
  // What AuditQueries.queryDecisions asks of the scan, with its cursor as the resume position.
  const queryDecisions = async ({ limit, after, newestFirst, ...filter }) =>
    q.scan({
      filter,
      after,
      newestFirst,
      limit: Math.min(Math.max(1, limit ?? DEFAULT_PAGE), MAX_PAGE),
      budget: SCAN_BUDGET,
    });

  async function time(name, run) {
    await run(); // warm: plans cached, pages in shared buffers
    const ms = [];
    let detail;
    for (let r = 0; r < RUNS; r++) {
      const t = performance.now();
      detail = await run();
      ms.push(performance.now() - t);
    }
    ms.sort((a, b) => a - b);
    const at = (p) => Number(ms[Math.min(ms.length - 1, Math.floor(p * ms.length))].toFixed(2));
    return { name, medianMs: at(0.5), p95Ms: at(0.95), maxMs: at(1), ...detail };
  }

  const results = [
    await time("last hour, first page of 100, oldest first", async () => ({
      records: (await queryDecisions({ ...lastHour, limit: 100 })).records.length,
    })),
    await time("last hour, first page of 100, newest first", async () => ({
      records: (await queryDecisions({ ...lastHour, limit: 100, newestFirst: true })).records.length,
    })),
    await time("last hour, denies only, page of 100", async () => ({
      records: (await queryDecisions({ ...lastHour, allowed: false, limit: 100 })).records.length,
    })),
    await time("last hour, one subject (scans the whole hour)", async () => ({
      records: (await queryDecisions({ ...lastHour, subjectId: "agt_00000001", limit: 1000 })).records.length,
    })),
    await time("last hour, every decision, pages of 1000", async () => {
      let after;
      let records = 0;
      let pages = 0;
      for (;;) {
        const page = await queryDecisions({ ...lastHour, limit: 1000, after });
        records += page.records.length;
        pages++;
        after = page.resume;
        if (!page.more) return { records, pages };
      }
    }),
  ];
  const server = (await db.one("SHOW server_version")).server_version;
  console.log(
    JSON.stringify(
      {
        postgres: server,
        decisions: N,
        orgs: ORGS,
        days: Number(o.days),
        perSegment: PER_SEGMENT,
        decisionsInLastHourForOneOrg: Math.round(N / (SPAN_MS / 3_600_000) / ORGS),
        tableMiB: Math.round(bytes / 2 ** 20),
        fillSeconds: Number(fillSeconds.toFixed(1)),
        runs: RUNS,
        results,
      },
      null,
      2,
    ),
  );
} finally {
  await db.close();
  if (o.keep || o.db) console.error(`kept database ${name}`);
  else await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}
