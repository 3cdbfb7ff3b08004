import type { Db } from "./db.js";
import { type DecisionRecord, fromStored } from "./decisions.js";

/** Which decisions a query wants: every field optional but the org. */
export interface DecisionFilter {
  readonly orgId: string;
  /** [fromMs, toMs) on the decision's time. */
  readonly fromMs?: number | undefined;
  readonly toMs?: number | undefined;
  readonly subjectId?: string | undefined;
  readonly caller?: string | undefined;
  readonly scope?: string | undefined;
  readonly allowed?: boolean | undefined;
  readonly reason?: string | undefined;
  readonly rule?: string | undefined;
  readonly resourceKind?: string | undefined;
  readonly resourceId?: string | undefined;
}

/** A place in the log: a segment and a record's index in it. */
export interface LogPosition {
  readonly segment: number;
  readonly position: number;
}

export interface DecisionPage {
  readonly records: (DecisionRecord & LogPosition)[];
  /** Where the scan stopped: the next call resumes after (or, newest first, before) it. */
  readonly resume: LogPosition | undefined;
  /** True when the scan stopped before the end of the range (page full, or budget spent). */
  readonly more: boolean;
}

export interface DecisionScan {
  readonly filter: DecisionFilter;
  readonly after?: LogPosition | undefined;
  readonly newestFirst?: boolean | undefined;
  readonly limit: number;
  /** At most this many decisions examined per call (bounds a query whose filter matches little). */
  readonly budget: number;
}

/** The stored array form of a record (store/decisions.ts `toStored`). */
type Stored = [
  string,
  number,
  string,
  string,
  string,
  string,
  number,
  string,
  string,
  number,
  string?,
  string?,
];

export interface SegmentRow {
  seq: number;
  first_at_ms: number;
  last_at_ms: number;
  count: number;
  /** Null when SQLite already saw the segment holds no match (out of range, or lacking the needle). */
  records: string | null;
}

export interface ScanParams {
  org: string;
  next: number;
  lo: number;
  from: number;
  to: number;
  needle: string;
}

/** Segments read per statement. */
export const CHUNK = 64;

/**
 * Reads decisions back from the segments in log order (segment seq, then position), picking
 * segments by their time bounds so a query over the last hour reads only the last hour's
 * segments, whatever the log's size. Segments are not strictly ordered by time (a spill file
 * moved in after a crash holds older decisions), so the range picks where to start — the first
 * segment whose newest decision is in range, found on decision_segments_org_time — and each
 * segment outside the range is skipped without parsing its records.
 */
export class DecisionQuery {
  private readonly firstInRange;
  private readonly asc;
  private readonly desc;

  constructor(db: Db) {
    this.firstInRange = db.prepare<[string, number], { seq: number | null }>(
      `SELECT min(seq) AS seq FROM decision_segments INDEXED BY decision_segments_org_time
       WHERE org_id = ? AND last_at_ms >= ?`,
    );
    // Both walk one org's segments in seq order on decision_segments_org_seq. A segment's records
    // come back only when it is in range and its text holds the needle (instr in SQLite is far
    // cheaper than handing the text to JavaScript to find it has no match).
    const columns = `seq, first_at_ms, last_at_ms, count,
       CASE WHEN last_at_ms >= @from AND first_at_ms < @to AND instr(records, @needle) > 0 THEN records END AS records`;
    this.asc = db.prepare<[ScanParams], SegmentRow>(
      `SELECT ${columns} FROM decision_segments INDEXED BY decision_segments_org_seq
       WHERE org_id = @org AND seq >= @next ORDER BY seq LIMIT ${CHUNK}`,
    );
    this.desc = db.prepare<[ScanParams], SegmentRow>(
      `SELECT ${columns} FROM decision_segments INDEXED BY decision_segments_org_seq
       WHERE org_id = @org AND seq <= @next AND seq >= @lo ORDER BY seq DESC LIMIT ${CHUNK}`,
    );
  }

  scan(q: DecisionScan): DecisionPage {
    const lo =
      q.filter.fromMs === undefined ? 0 : this.firstInRange.get(q.filter.orgId, q.filter.fromMs)?.seq;
    const steps = scanSteps(q, lo);
    for (let step = steps.next(); ; ) {
      if (step.done) return step.value;
      const read = step.value;
      step = steps.next(read.newestFirst ? this.desc.all(read.params) : this.asc.all(read.params));
    }
  }
}

/** One statement a scan needs: the org's next `chunk` segments, in scan order, from `params.next`. */
export interface SegmentRead {
  readonly newestFirst: boolean;
  readonly params: ScanParams;
  readonly chunk: number;
}

/**
 * A scan, whatever the backend: yields each read of segments it needs and is handed back their
 * rows (SegmentRow, `records` null when the database already saw the segment holds no match);
 * returns the page. `lo` is the first segment whose newest decision is at or after fromMs (0
 * without fromMs; null or undefined when there is none). Reads ask for `firstChunk` segments,
 * doubling up to CHUNK (a first page is often in the first segment or two); the answer does not
 * depend on it.
 */
export function* scanSteps(
  q: DecisionScan,
  lo: number | null | undefined,
  firstChunk = CHUNK,
): Generator<SegmentRead, DecisionPage, SegmentRow[]> {
  const f = q.filter;
  if (lo === null || lo === undefined) return { records: [], resume: q.after, more: false };
  const match = matcher(f);
  // A segment that does not contain a wanted string, encoded as the writer encoded it, holds no
  // match: it is skipped without parsing (a search by subject reads an hour's segments as text).
  const needles = [f.subjectId, f.caller, f.scope, f.reason, f.rule, f.resourceKind, f.resourceId]
    .filter((v): v is string => Boolean(v))
    .map((v) => JSON.stringify(v));
  const out: (DecisionRecord & LogPosition)[] = [];
  let examined = 0;
  let resume = q.after;
  let next = q.newestFirst
    ? (q.after?.segment ?? Number.MAX_SAFE_INTEGER)
    : Math.max(lo, q.after?.segment ?? 0);
  let chunk = Math.min(firstChunk, CHUNK);
  for (;;) {
    const params = {
      org: f.orgId,
      next,
      lo,
      from: f.fromMs ?? Number.MIN_SAFE_INTEGER,
      to: f.toMs ?? Number.MAX_SAFE_INTEGER,
      needle: needles[0] ?? "",
    };
    const rows: SegmentRow[] = yield { newestFirst: Boolean(q.newestFirst), params, chunk };
    if (rows.length === 0) return { records: out, resume, more: false };
    for (const s of rows) {
      const inRange =
        (f.fromMs === undefined || s.last_at_ms >= f.fromMs) &&
        (f.toMs === undefined || s.first_at_ms < f.toMs);
      // Past this segment's end, in scan order: the resume point once it is read (or skipped).
      const done = { segment: s.seq, position: q.newestFirst ? 0 : s.count - 1 };
      const text = s.records;
      if (text === null || needles.some((n) => !text.includes(n))) {
        examined += inRange ? s.count : 1;
        resume = done;
        if (examined >= q.budget) return { records: out, resume, more: true };
        continue;
      }
      const parsed = JSON.parse(text) as Stored[];
      const resumeHere = q.after?.segment === s.seq ? q.after.position : undefined;
      let i = q.newestFirst ? (resumeHere ?? parsed.length) - 1 : (resumeHere ?? -1) + 1;
      for (; q.newestFirst ? i >= 0 : i < parsed.length; i += q.newestFirst ? -1 : 1) {
        const r = parsed[i] as Stored;
        if (match(r)) out.push(toRecord(f.orgId, r, s.seq, i));
        examined++;
        resume = { segment: s.seq, position: i };
        if (out.length >= q.limit || examined >= q.budget) return { records: out, resume, more: true };
      }
      resume = done;
    }
    const tail = rows.at(-1) as SegmentRow;
    next = q.newestFirst ? tail.seq - 1 : tail.seq + 1;
    if (rows.length < chunk) return { records: out, resume, more: false };
    chunk = Math.min(chunk * 2, CHUNK);
  }
}

function matcher(f: DecisionFilter): (r: Stored) => boolean {
  const tests: ((r: Stored) => boolean)[] = [];
  const from = f.fromMs;
  const to = f.toMs;
  if (from !== undefined) tests.push((r) => r[1] >= from);
  if (to !== undefined) tests.push((r) => r[1] < to);
  const eq = (i: number, v: string | undefined) => {
    if (v) tests.push((r) => r[i] === v);
  };
  eq(2, f.subjectId);
  eq(3, f.scope);
  eq(4, f.resourceKind);
  eq(5, f.resourceId);
  eq(7, f.reason);
  eq(8, f.rule);
  if (f.caller) tests.push((r) => (r[10] ?? "") === f.caller);
  if (f.allowed !== undefined) {
    const want = f.allowed ? 1 : 0;
    tests.push((r) => r[6] === want);
  }
  return (r) => tests.every((t) => t(r));
}

function toRecord(orgId: string, r: Stored, segment: number, position: number): DecisionRecord & LogPosition {
  return { ...fromStored(orgId, r), segment, position };
}
