import { expect, it } from "vitest";
import type { Async } from "../../../src/store/contract/async.js";
import {
  type DecisionFilter,
  type DecisionPage,
  DecisionQuery,
  type LogPosition,
} from "../../../src/store/decision-query.js";
import { type DecisionRecord, DecisionRepository } from "../../../src/store/decisions.js";
import { PgDecisionQuery } from "../../../src/store/postgres/decision-query.js";
import { PgDecisionRepository } from "../../../src/store/postgres/decisions.js";
import { describeBackends, type Opened } from "./backends.js";

/**
 * QueryDecisions' scan on either backend: the same data gives the same records, order, resume
 * points and `more`, page by page (segment numbers are the same too: both start each test at 1).
 */

function query(o: Opened): Async<DecisionQuery> {
  return o.kind === "sqlite" ? new DecisionQuery(o.db) : new PgDecisionQuery(o.db);
}
function repository(o: Opened): Async<DecisionRepository> {
  return o.kind === "sqlite" ? new DecisionRepository(o.db) : new PgDecisionRepository(o.db);
}

const T0 = 1_800_000_000_000;

function rec(orgId: string, i: number, over: Partial<DecisionRecord> = {}): DecisionRecord {
  return {
    id: `d${orgId}${i}`,
    orgId,
    atMs: T0 + i * 1000,
    subjectId: `agent-${i % 3}`,
    scope: i % 2 ? "reports:read" : "reports:write",
    resourceKind: "report",
    resourceId: `r${i % 5}`,
    allowed: i % 4 !== 0,
    reason: i % 4 !== 0 ? "RULE_MATCHED" : "NO_MATCHING_RULE",
    rule: i % 4 !== 0 ? "reads" : "",
    revision: 1,
    caller: i % 2 ? "api_key:k1" : "spiffe:spiffe://x/y",
    ...over,
  };
}

/** 100 decisions of org A in 10 segments of 10 (seq 1, 3, …, 19), interleaved with 3 of org B's each. */
async function seed(o: Opened): Promise<Async<DecisionRepository>> {
  const repo = repository(o);
  for (let s = 0; s < 10; s++) {
    await repo.insert(Array.from({ length: 10 }, (_, k) => rec("A", s * 10 + k)));
    await repo.insert(Array.from({ length: 3 }, (_, k) => rec("B", s * 3 + k)));
  }
  return repo;
}

interface Walk {
  ids: string[];
  pages: { ids: string[]; resume: LogPosition | undefined; more: boolean }[];
}

/** Every page of a scan, from `after` on, until one says there is no more. */
async function walk(
  q: Async<DecisionQuery>,
  filter: DecisionFilter,
  limit: number,
  opts: { newestFirst?: boolean; budget?: number; after?: LogPosition } = {},
): Promise<Walk> {
  const out: Walk = { ids: [], pages: [] };
  let after = opts.after;
  for (let i = 0; i < 1000; i++) {
    const page: DecisionPage = await q.scan({
      filter,
      after,
      newestFirst: opts.newestFirst,
      limit,
      budget: opts.budget ?? 200_000,
    });
    const ids = page.records.map((r) => r.id);
    out.ids.push(...ids);
    out.pages.push({ ids, resume: page.resume, more: page.more });
    after = page.resume;
    if (!page.more) return out;
  }
  throw new Error("never ended");
}

const model = (f: (r: DecisionRecord) => boolean) =>
  Array.from({ length: 100 }, (_, i) => rec("A", i))
    .filter(f)
    .map((r) => r.id);

describeBackends("decision query", (opened) => {
  it("pages through every decision once, oldest or newest first, whatever the page size", async () => {
    const o = opened();
    await seed(o);
    const q = query(o);
    const ids = model(() => true);
    for (const size of [1, 7, 10, 100, 1000]) {
      expect((await walk(q, { orgId: "A" }, size)).ids).toEqual(ids);
      expect((await walk(q, { orgId: "A" }, size, { newestFirst: true })).ids).toEqual([...ids].reverse());
    }
  });

  it("gives each record's place in the log, and resumes where a page stopped", async () => {
    const o = opened();
    await seed(o);
    const q = query(o);
    const first = await q.scan({ filter: { orgId: "A" }, limit: 12, budget: 1000 });
    expect(first.records.map((r) => [r.id, r.segment, r.position])).toContainEqual(["dA11", 3, 1]);
    expect(first.records[0]).toEqual({ ...rec("A", 0), segment: 1, position: 0 });
    expect(first.resume).toEqual({ segment: 3, position: 1 });
    expect(first.more).toBe(true);
    const back = await q.scan({
      filter: { orgId: "A" },
      after: first.resume,
      newestFirst: true,
      limit: 3,
      budget: 1000,
    });
    expect(back.records.map((r) => r.id)).toEqual(["dA10", "dA9", "dA8"]);
    expect(back.resume).toEqual({ segment: 1, position: 8 });
    // The last page's resume point is past the end: nothing more, until more is written.
    const pages = (await walk(q, { orgId: "A" }, 30)).pages;
    expect(pages.map((p) => [p.ids.length, p.more])).toEqual([
      [30, true],
      [30, true],
      [30, true],
      [10, false],
    ]);
    expect(pages.at(-1)?.resume).toEqual({ segment: 19, position: 9 });
    const newest = (await walk(q, { orgId: "A" }, 30, { newestFirst: true })).pages.at(-1);
    expect(newest?.resume).toEqual({ segment: 1, position: 0 });
  });

  it("filters by time range, principal, caller, scope, decision, reason, rule and resource", async () => {
    const o = opened();
    const repo = await seed(o);
    const q = query(o);
    const range = await walk(q, { orgId: "A", fromMs: T0 + 25_000, toMs: T0 + 43_000 }, 4);
    expect(range.ids).toEqual(Array.from({ length: 18 }, (_, i) => `dA${25 + i}`));
    const newestRange = await walk(q, { orgId: "A", fromMs: T0 + 25_000, toMs: T0 + 43_000 }, 4, {
      newestFirst: true,
    });
    expect(newestRange.ids).toEqual([...range.ids].reverse());
    const ids = async (f: Omit<DecisionFilter, "orgId">, newestFirst = false) =>
      (await walk(q, { orgId: "A", ...f }, 6, { newestFirst })).ids;
    expect(await ids({ subjectId: "agent-1" })).toEqual(model((r) => r.subjectId === "agent-1"));
    expect(await ids({ subjectId: "agent-1" }, true)).toEqual(
      model((r) => r.subjectId === "agent-1").reverse(),
    );
    expect(await ids({ caller: "api_key:k1" })).toEqual(model((r) => r.caller === "api_key:k1"));
    expect(await ids({ scope: "reports:write", allowed: false })).toEqual(
      model((r) => r.scope === "reports:write" && !r.allowed),
    );
    expect(await ids({ allowed: true })).toEqual(model((r) => r.allowed));
    expect(await ids({ reason: "NO_MATCHING_RULE" })).toEqual(model((r) => r.reason === "NO_MATCHING_RULE"));
    expect(await ids({ rule: "reads", resourceKind: "report", resourceId: "r2" })).toEqual(
      model((r) => r.rule === "reads" && r.resourceId === "r2"),
    );
    expect(await ids({ resourceKind: "other" })).toEqual([]);
    expect(await ids({ subjectId: "nobody" })).toEqual([]);
    expect(await ids({ fromMs: T0 + 200_000 })).toEqual([]);
    // Segments are skipped on the text of a wanted value: one needing JSON escapes is still found.
    const odd = 'q"uo\\te é\u2028\u0000';
    await repo.insert([rec("A", 200, { id: "odd", subjectId: odd, subjectOrg: "other" })]);
    expect(await ids({ subjectId: odd })).toEqual(["odd"]);
    const found = await q.scan({ filter: { orgId: "A", subjectId: odd }, limit: 5, budget: 1000 });
    expect(found.records).toEqual([
      { ...rec("A", 200, { id: "odd", subjectId: odd, subjectOrg: "other" }), segment: 21, position: 0 },
    ]);
  });

  it("never shows one org's decisions to another", async () => {
    const o = opened();
    await seed(o);
    const q = query(o);
    expect((await walk(q, { orgId: "B" }, 5)).ids).toEqual(Array.from({ length: 30 }, (_, i) => `dB${i}`));
    expect((await walk(q, { orgId: "C" }, 5)).ids).toEqual([]);
    // A position in org A's log only says where to read; org B still reads only its own.
    const aPage = await q.scan({ filter: { orgId: "A" }, limit: 95, budget: 1000 });
    const bAfter = await q.scan({ filter: { orgId: "B" }, after: aPage.resume, limit: 1000, budget: 1000 });
    expect(bAfter.records.map((r) => r.id)).toEqual(Array.from({ length: 3 }, (_, i) => `dB${27 + i}`));
  });

  it("a position at the end follows decisions logged later (the tail), late batches included", async () => {
    const o = opened();
    const repo = await seed(o);
    const q = query(o);
    const f = { orgId: "A", fromMs: T0 + 99_000 };
    const first = await q.scan({ filter: f, limit: 1000, budget: 1000 });
    expect(first.records.map((r) => r.id)).toEqual(["dA99"]);
    const idle = await q.scan({ filter: f, after: first.resume, limit: 1000, budget: 1000 });
    expect(idle.records).toEqual([]);
    expect(idle.resume).toEqual(first.resume);
    await repo.insert([rec("B", 900), rec("A", 100), rec("A", 101)]);
    const next = await q.scan({ filter: f, after: idle.resume, limit: 1000, budget: 1000 });
    expect(next.records.map((r) => r.id)).toEqual(["dA100", "dA101"]);
    // A batch that arrives late with older decisions (a spill moved in after a crash) is still seen.
    await repo.insert([rec("A", 150, { id: "late", atMs: T0 + 99_500 })]);
    const late = await q.scan({ filter: f, after: next.resume, limit: 1000, budget: 1000 });
    expect(late.records.map((r) => r.id)).toEqual(["late"]);
  });

  it("stops after a bounded scan when the filter matches little, and says there is more", async () => {
    const o = opened();
    const repo = repository(o);
    const q = query(o);
    const many = Array.from({ length: 510 }, (_, i) => rec("D", i, { subjectId: "x" }));
    for (let i = 0; i < many.length; i += 50) await repo.insert(many.slice(i, i + 50));
    await repo.insert([rec("D", 0, { id: "needle", subjectId: "needle" })]);
    const w = await walk(q, { orgId: "D", subjectId: "needle" }, 10, { budget: 500 });
    expect(w.pages).toEqual([
      { ids: [], resume: { segment: 10, position: 49 }, more: true },
      { ids: ["needle"], resume: { segment: 12, position: 0 }, more: false },
    ]);
    // Parsed segments stop mid-segment when the budget is spent.
    const parsed = await walk(q, { orgId: "D", allowed: false }, 1000, { budget: 120 });
    expect(parsed.pages.map((p) => [p.ids.length, p.resume, p.more])).toEqual([
      [30, { segment: 3, position: 19 }, true],
      [30, { segment: 5, position: 39 }, true],
      [30, { segment: 8, position: 9 }, true],
      [30, { segment: 10, position: 29 }, true],
      [9, { segment: 12, position: 0 }, false],
    ]);
    expect(parsed.ids).toEqual([...many.filter((r) => !r.allowed).map((r) => r.id), "needle"]);
  });
});
