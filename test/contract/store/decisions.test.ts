import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { DecisionLog } from "../../../src/audit/decision-log.js";
import { type DecisionSink, directSink } from "../../../src/audit/decision-sink.js";
import { FileSpill } from "../../../src/audit/decision-spill.js";
import { openDecisionLog, openDecisionLogWith } from "../../../src/audit/open-decision-log.js";
import { pgDecisionSink } from "../../../src/audit/pg-decision-sink.js";
import type { Async } from "../../../src/store/contract/async.js";
import {
  type DecisionBatch,
  type DecisionRecord,
  DecisionRepository,
  type DecisionRepositoryOptions,
  type OverflowSummary,
} from "../../../src/store/decisions.js";
import { PgDecisionRepository } from "../../../src/store/postgres/decisions.js";
import { describeBackends, type Opened, selectRows } from "./backends.js";

function repository(o: Opened, opts?: DecisionRepositoryOptions): Async<DecisionRepository> {
  return o.kind === "sqlite" ? new DecisionRepository(o.db, opts) : new PgDecisionRepository(o.db, opts);
}

/** The backend's sink: the repository on this thread (SQLite) or on the pg pool (PostgreSQL). */
function sinkOf(o: Opened, opts?: DecisionRepositoryOptions): DecisionSink {
  return o.kind === "sqlite"
    ? directSink(new DecisionRepository(o.db, opts))
    : pgDecisionSink(new PgDecisionRepository(o.db, opts));
}

/** Makes the database refuse every decision_overflow row (the last insert of a batch), or accept them again. */
async function refuseOverflow(o: Opened, refuse: boolean): Promise<void> {
  if (o.kind === "sqlite") {
    o.db.exec(
      refuse
        ? "CREATE TRIGGER refuse BEFORE INSERT ON decision_overflow BEGIN SELECT RAISE(ABORT, 'refused'); END"
        : "DROP TRIGGER refuse",
    );
  } else if (refuse) {
    await o.db.query(`
      CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
      CREATE TRIGGER refuse BEFORE INSERT ON decision_overflow FOR EACH ROW EXECUTE FUNCTION refuse();`);
  } else {
    await o.db.query("DROP TRIGGER refuse ON decision_overflow; DROP FUNCTION refuse()");
  }
}

const T0 = 1_800_000_000_000;

function rec(orgId: string, i: number, over: Partial<DecisionRecord> = {}): DecisionRecord {
  return {
    id: `d-${orgId}-${i}`,
    orgId,
    atMs: T0 + i * 1000,
    subjectId: `agent-${i % 3}`,
    scope: "reports:read",
    resourceKind: "report",
    resourceId: `r${i}`,
    allowed: i % 2 === 0,
    reason: i % 2 === 0 ? "RULE_MATCHED" : "NO_MATCHING_RULE",
    rule: i % 2 === 0 ? "p/reads" : "",
    revision: 3,
    caller: "api_key:k1",
    ...over,
  };
}

function summary(orgId: string, start: number, over: Partial<OverflowSummary> = {}): OverflowSummary {
  return {
    orgId,
    windowStartMs: start,
    windowEndMs: start + 60_000,
    dropped: 5,
    allowed: 4,
    denied: 1,
    droppedBytes: 900,
    ...over,
  };
}

const batch = (id: string, records: DecisionRecord[], overflow: OverflowSummary[] = []): DecisionBatch => ({
  id,
  records,
  overflow,
});

interface SegmentDbRow {
  org_id: string;
  first_at_ms: number;
  last_at_ms: number;
  count: number;
  records: string;
}

const segments = (o: Opened) =>
  selectRows<SegmentDbRow>(
    o,
    "SELECT org_id, first_at_ms, last_at_ms, count, CAST(records AS TEXT) AS records FROM decision_segments ORDER BY seq",
  );
const rowCount = async (o: Opened, table: string) =>
  Number((await selectRows<{ n: number }>(o, `SELECT count(*) AS n FROM ${table}`))[0]?.n);

describeBackends("decision repository", (opened) => {
  it("stores a batch as one segment per org, in order, and reads the decisions back newest first", async () => {
    const o = opened();
    const repo = repository(o);
    const records = [rec("A", 1), rec("B", 2), rec("A", 3, { caller: undefined }), rec("B", 4)];
    expect(await repo.write(batch("b1", records))).toBe(true);
    expect(await repo.count()).toBe(4);
    const segs = await segments(o);
    expect(segs.map((s) => [s.org_id, s.first_at_ms, s.last_at_ms, s.count])).toEqual([
      ["A", T0 + 1000, T0 + 3000, 2],
      ["B", T0 + 2000, T0 + 4000, 2],
    ]);
    // The stored text is the writer's, byte for byte, on either backend.
    // The stored text is the writer's, byte for byte, on either backend.
    expect(segs[0]?.records).toBe(
      JSON.stringify([
        [
          "d-A-1",
          T0 + 1000,
          "agent-1",
          "reports:read",
          "report",
          "r1",
          0,
          "NO_MATCHING_RULE",
          "",
          3,
          "api_key:k1",
        ],
        ["d-A-3", T0 + 3000, "agent-0", "reports:read", "report", "r3", 0, "NO_MATCHING_RULE", "", 3, ""],
      ]),
    );
    expect(await repo.recent("A", 10)).toEqual([{ ...rec("A", 3), caller: "" }, rec("A", 1)]);
    expect((await repo.recent("B", 1)).map((r) => r.id)).toEqual(["d-B-4"]);
    expect(await repo.recent("C", 10)).toEqual([]);
  });

  it("keeps the subject's org when it is not the deciding org, and strings needing escapes", async () => {
    const repo = repository(opened());
    const odd = 'q"uo\\te é\u2028\u0000\t';
    await repo.insert([rec("A", 1, { subjectOrg: "org-b", subjectId: odd }), rec("A", 2)]);
    const back = await repo.recent("A", 10);
    expect(back).toEqual([rec("A", 2), rec("A", 1, { subjectOrg: "org-b", subjectId: odd })]);
    expect(back[0]).not.toHaveProperty("subjectOrg");
  });

  it("a batch id stored before makes the write a no-op, segments and overflow alike", async () => {
    const o = opened();
    const repo = repository(o);
    const b = batch("same", [rec("A", 1), rec("A", 2)], [summary("A", T0)]);
    expect(await repo.write(b)).toBe(true);
    expect(await repo.write(b)).toBe(false);
    expect(await repo.write(batch("same", [rec("A", 9)], [summary("A", T0 + 1)]))).toBe(false);
    expect(await repo.count()).toBe(2);
    expect(await repo.overflow("A")).toEqual([summary("A", T0)]);
    expect(await rowCount(o, "decision_batches")).toBe(1);
    expect(await repo.write(batch("other", [rec("A", 3)]))).toBe(true);
    expect(await repo.count()).toBe(3);
  });

  it("two writes of one batch at once store it once", async () => {
    const o = opened();
    const repo = repository(o);
    const b = batch("race", [rec("A", 1), rec("B", 2)], [summary("A", T0)]);
    const results = await Promise.all([repo.write(b), repo.write(b), repository(o).write(b)]);
    expect(results.filter((r) => r)).toHaveLength(1);
    expect(await repo.count()).toBe(2);
    expect(await repo.overflow("A")).toHaveLength(1);
  });

  it("stores overflow summaries and gives an org's oldest window first", async () => {
    const repo = repository(opened());
    await repo.write(batch("b1", [], [summary("A", T0 + 60_000), summary("B", T0)]));
    await repo.write(batch("b2", [], [summary("A", T0, { dropped: 7, droppedBytes: 12_345 })]));
    await repo.write(batch("b3", [], [summary("A", T0 + 60_000, { denied: 9 })]));
    expect(await repo.overflow("A")).toEqual([
      summary("A", T0, { dropped: 7, droppedBytes: 12_345 }),
      summary("A", T0 + 60_000),
      summary("A", T0 + 60_000, { denied: 9 }),
    ]);
    expect(await repo.overflow("B")).toEqual([summary("B", T0)]);
    expect(await repo.overflow("C")).toEqual([]);
    expect(await repo.count()).toBe(0);
  });

  it("splits an org's part of a batch into segments of at most maxSegmentBytes", async () => {
    const o = opened();
    const repo = repository(o, { maxSegmentBytes: 350 });
    const big = rec("A", 50, { resourceId: "x".repeat(1000) });
    const list = [rec("A", 0), rec("A", 1), rec("A", 2), rec("A", 3), big, rec("A", 4), rec("B", 5)];
    await repo.write(batch("b", list));
    const segs = await segments(o);
    expect(segs.map((s) => [s.org_id, s.count])).toEqual([
      ["A", 3],
      ["A", 1],
      ["A", 1],
      ["A", 1],
      ["B", 1],
    ]);
    for (const s of segs.filter((s) => s.count > 1))
      expect(Buffer.byteLength(s.records)).toBeLessThanOrEqual(350);
    expect((await repo.recent("A", 100)).map((r) => r.id)).toEqual([
      "d-A-50",
      "d-A-4",
      "d-A-3",
      "d-A-2",
      "d-A-1",
      "d-A-0",
    ]);
  });

  it("insert stores records as a batch of their own each time", async () => {
    const o = opened();
    const repo = repository(o);
    await repo.insert([rec("A", 1)]);
    await repo.insert([rec("A", 1)]);
    expect(await repo.count()).toBe(2);
    expect(await rowCount(o, "decision_batches")).toBe(2);
  });

  it("keeps writing after fsyncEachCommit (sync durability)", async () => {
    const repo = repository(opened());
    await repo.fsyncEachCommit();
    expect(await repo.write(batch("s", [rec("A", 1)]))).toBe(true);
    expect(await repo.count()).toBe(1);
  });

  it("a batch the database refuses leaves nothing behind, and the sink's write rejects", async () => {
    const o = opened();
    const sink = sinkOf(o);
    const b = batch("refused", [rec("A", 1), rec("B", 2)], [summary("A", T0)]);
    await refuseOverflow(o, true);
    await expect(sink.write(b)).rejects.toThrow();
    for (const table of ["decision_batches", "decision_segments", "decision_overflow"])
      expect(await rowCount(o, table)).toBe(0);
    await refuseOverflow(o, false);
    // Its id was not kept: the retry stores it.
    await sink.write(b);
    const repo = repository(o);
    expect(await repo.count()).toBe(2);
    expect(await repo.overflow("A")).toEqual([summary("A", T0)]);
    await sink.write(b);
    expect(await repo.count()).toBe(2);
    await sink.close();
  });
});

describeBackends("decision log over the backend's sink", (opened) => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), "tessera-decision-spill-"));
    dirs.push(d);
    return d;
  };
  const storedIds = async (o: Opened) =>
    (await selectRows<{ id: string }>(o, "SELECT id FROM decision_log ORDER BY segment, position")).map(
      (r) => r.id,
    );

  it("spills what the database refuses and moves it in, in order and once, when it accepts again", async () => {
    const o = opened();
    const dir = tempDir();
    const errors: unknown[] = [];
    const spill = new FileSpill(dir, { onError: (e) => errors.push(e) });
    const log = new DecisionLog(sinkOf(o), {
      flushIntervalMs: 1,
      batchSize: 2,
      maxFailures: 2,
      retryBackoffMs: 1,
      spillRetryMs: 20,
      orgQuotaBytes: 0,
      spill,
      onError: (e) => errors.push(e),
    });
    const states: boolean[] = [];
    log.onSpilling((s) => states.push(s));
    // Refuse every segment row too: the refusal trigger on segments, per backend.
    if (o.kind === "sqlite")
      o.db.exec(
        "CREATE TRIGGER refuse_seg BEFORE INSERT ON decision_segments BEGIN SELECT RAISE(ABORT, 'x'); END",
      );
    else
      await o.db.query(`
        CREATE FUNCTION refuse_seg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'x'; END $$;
        CREATE TRIGGER refuse_seg BEFORE INSERT ON decision_segments FOR EACH ROW EXECUTE FUNCTION refuse_seg();`);
    for (let i = 0; i < 6; i++) await log.record(rec("A", i));
    await waitFor(() => log.stats().spilled === 6);
    expect(states).toEqual([false, true]);
    expect(readdirSync(dir).some((f) => f.startsWith("decision-spill."))).toBe(true);
    expect(await storedIds(o)).toEqual([]);
    expect(errors.length).toBeGreaterThanOrEqual(2);
    if (o.kind === "sqlite") o.db.exec("DROP TRIGGER refuse_seg");
    else await o.db.query("DROP TRIGGER refuse_seg ON decision_segments; DROP FUNCTION refuse_seg()");
    await waitFor(() => !log.stats().spilling);
    for (let i = 6; i < 8; i++) await log.record(rec("A", i));
    await log.close();
    expect(await storedIds(o)).toEqual(Array.from({ length: 8 }, (_, i) => `d-A-${i}`));
    expect(states).toEqual([false, true, false]);
  });

  it("opens over PostgreSQL with the spill file in the data directory, or not at all when off", async () => {
    const o = opened();
    const dir = tempDir();
    const log =
      o.kind === "sqlite"
        ? openDecisionLogWith(sinkOf(o), dir, { decisionLogDurability: "sync" }, () => {})
        : openDecisionLog(
            { dataDir: dir, decisionSink: () => pgDecisionSink(new PgDecisionRepository(o.db)) },
            { decisionLogDurability: "sync" },
            () => {},
          );
    expect(log).toBeDefined();
    await log?.record(rec("A", 1));
    await log?.close();
    expect(await storedIds(o)).toEqual(["d-A-1"]);
    const off = { decisionLog: false };
    expect(openDecisionLogWith(sinkOf(o), dir, off, () => {})).toBeUndefined();
    if (o.kind === "postgres")
      expect(
        openDecisionLog(
          { dataDir: dir, decisionSink: () => pgDecisionSink(new PgDecisionRepository(o.db)) },
          off,
          () => {},
        ),
      ).toBeUndefined();
  });
});

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}
