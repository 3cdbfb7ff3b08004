import { randomUUID } from "node:crypto";
import type { Db } from "./db.js";

/** One Authorize decision as the log keeps it. */
export interface DecisionRecord {
  readonly id: string;
  readonly orgId: string;
  readonly atMs: number;
  readonly subjectId: string;
  readonly scope: string;
  readonly resourceKind: string;
  readonly resourceId: string;
  readonly allowed: boolean;
  readonly reason: string;
  readonly rule: string;
  readonly revision: number;
  /** Who asked (`api_key:…`, `service:…`, `token:…`); stored as "" when unknown. */
  readonly caller?: string | undefined;
  /** The subject's org when it is not `orgId` (a token of a trusted org); stored as "" otherwise. */
  readonly subjectOrg?: string | undefined;
}

/**
 * Decisions of one org in one quota window that were counted instead of stored one by one,
 * because the org had used its byte budget for that window (see DecisionLog).
 */
export interface OverflowSummary {
  readonly orgId: string;
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  readonly dropped: number;
  readonly allowed: number;
  readonly denied: number;
  /** Approximate size of the records not stored. */
  readonly droppedBytes: number;
}

/** What one write stores, all or nothing; its id makes writing it twice a no-op. */
export interface DecisionBatch {
  readonly id: string;
  readonly records: readonly DecisionRecord[];
  readonly overflow: readonly OverflowSummary[];
}

export interface DecisionRepositoryOptions {
  /** Largest segment row (one org's part of a batch), in UTF-8 bytes of its JSON. Default 1 MiB. */
  readonly maxSegmentBytes?: number | undefined;
}

/**
 * One stored decision, in the order of the segment's JSON arrays (migration 6; caller:
 * migration 9; subject org: migration 13).
 */
function toStored(r: DecisionRecord): unknown[] {
  return [
    r.id,
    r.atMs,
    r.subjectId,
    r.scope,
    r.resourceKind,
    r.resourceId,
    r.allowed ? 1 : 0,
    r.reason,
    r.rule,
    r.revision,
    r.caller ?? "",
    // Most decisions are about the deciding org's own subjects: nothing is stored for them.
    ...(r.subjectOrg ? [r.subjectOrg] : []),
  ];
}

/** A stored array (toStored's) back as the record of `orgId`. */
export function fromStored(orgId: string, r: readonly unknown[]): DecisionRecord {
  return {
    id: r[0] as string,
    orgId,
    atMs: r[1] as number,
    subjectId: r[2] as string,
    scope: r[3] as string,
    resourceKind: r[4] as string,
    resourceId: r[5] as string,
    allowed: r[6] === 1,
    reason: r[7] as string,
    rule: r[8] as string,
    revision: r[9] as number,
    caller: (r[10] as string | undefined) ?? "",
    ...(r[11] ? { subjectOrg: r[11] as string } : {}),
  };
}

/** One org's records of a batch, orgs in the order of their first record (segments are stored in this order). */
export function groupByOrg(rows: readonly DecisionRecord[]): Map<string, DecisionRecord[]> {
  const byOrg = new Map<string, DecisionRecord[]>();
  for (const r of rows) {
    const list = byOrg.get(r.orgId);
    if (list) list.push(r);
    else byOrg.set(r.orgId, [r]);
  }
  return byOrg;
}

/** One segment row as stored: one org's records of a batch, in order, as a JSON array. */
export interface SegmentRow {
  readonly firstAtMs: number;
  readonly lastAtMs: number;
  readonly count: number;
  /** The JSON text of the records' stored arrays (see toStored). */
  readonly records: string;
}

/** Splits one org's records into segments no larger than maxSegmentBytes (a lone larger record gets its own). */
export function segmentsOf(list: readonly DecisionRecord[], maxSegmentBytes: number): SegmentRow[] {
  const out: SegmentRow[] = [];
  let parts: string[] = [];
  let bytes = 2;
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  const emit = () => {
    out.push({ firstAtMs: first, lastAtMs: last, count: parts.length, records: `[${parts.join(",")}]` });
    parts = [];
    bytes = 2;
    first = Number.POSITIVE_INFINITY;
    last = Number.NEGATIVE_INFINITY;
  };
  for (const r of list) {
    const json = JSON.stringify(toStored(r));
    const size = Buffer.byteLength(json) + 1;
    if (parts.length > 0 && bytes + size > maxSegmentBytes) emit();
    parts.push(json);
    bytes += size;
    first = Math.min(first, r.atMs);
    last = Math.max(last, r.atMs);
  }
  if (parts.length > 0) emit();
  return out;
}

/** A decision_log view row (either backend) as a record. */
export function decisionFromLogRow(r: Record<string, unknown>): DecisionRecord {
  return {
    id: String(r.id),
    orgId: String(r.org_id),
    atMs: Number(r.at_ms),
    subjectId: String(r.subject_id),
    scope: String(r.scope),
    resourceKind: String(r.resource_kind),
    resourceId: String(r.resource_id),
    allowed: Number(r.allowed) === 1,
    reason: String(r.reason),
    rule: String(r.rule),
    revision: Number(r.revision),
    caller: String(r.caller),
    ...(r.subject_org ? { subjectOrg: String(r.subject_org) } : {}),
  };
}

/** A decision_overflow row (either backend) as a summary. */
export function overflowFromRow(r: Record<string, unknown>): OverflowSummary {
  return {
    orgId: String(r.org_id),
    windowStartMs: Number(r.window_start_ms),
    windowEndMs: Number(r.window_end_ms),
    dropped: Number(r.dropped),
    allowed: Number(r.allowed),
    denied: Number(r.denied),
    droppedBytes: Number(r.dropped_bytes),
  };
}

/** Largest segment row unless the options say otherwise. */
export const DEFAULT_MAX_SEGMENT_BYTES = 1024 * 1024;

/**
 * The decision log, on a connection of its own with `synchronous = NORMAL`: in WAL mode a
 * batch survives a process crash, and the log does not pay an fsync per batch the way the
 * admin writes (FULL) do. A batch is stored as segment rows per org, each at most
 * maxSegmentBytes; the decision_log view reads them back one row per decision.
 */
export class DecisionRepository {
  private readonly insertSegment;
  private readonly insertOverflow;
  private readonly markBatch;
  private readonly writeTx;
  private readonly maxSegmentBytes: number;

  constructor(
    private readonly db: Db,
    opts: DecisionRepositoryOptions = {},
  ) {
    this.maxSegmentBytes = opts.maxSegmentBytes ?? DEFAULT_MAX_SEGMENT_BYTES;
    this.insertSegment = db.prepare<[string, number, number, number, string]>(
      `INSERT INTO decision_segments (org_id, first_at_ms, last_at_ms, count, records)
       VALUES (?, ?, ?, ?, ?)`,
    );
    this.insertOverflow = db.prepare<[string, number, number, number, number, number, number]>(
      `INSERT INTO decision_overflow (org_id, window_start_ms, window_end_ms, dropped, allowed, denied, dropped_bytes)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.markBatch = db.prepare<[string, number]>(
      "INSERT OR IGNORE INTO decision_batches (batch_id, written_at_ms) VALUES (?, ?)",
    );
    this.writeTx = db.transaction((batch: DecisionBatch): boolean => {
      // A batch retried after a timeout, or moved in from a spill file, may be here already.
      if (this.markBatch.run(batch.id, Date.now()).changes === 0) return false;
      for (const [orgId, list] of groupByOrg(batch.records)) this.insertSegments(orgId, list);
      for (const o of batch.overflow) {
        this.insertOverflow.run(
          o.orgId,
          o.windowStartMs,
          o.windowEndMs,
          o.dropped,
          o.allowed,
          o.denied,
          o.droppedBytes,
        );
      }
      return true;
    });
  }

  private insertSegments(orgId: string, list: readonly DecisionRecord[]): void {
    for (const g of segmentsOf(list, this.maxSegmentBytes))
      this.insertSegment.run(orgId, g.firstAtMs, g.lastAtMs, g.count, g.records);
  }

  /** Makes every later commit on this connection fsync'd (`synchronous = FULL`): the decision log's sync durability. */
  fsyncEachCommit(): void {
    this.db.pragma("synchronous = FULL");
  }

  /** Stores a batch in one transaction, all or none; false when a batch with its id was stored before. */
  write(batch: DecisionBatch): boolean {
    return this.writeTx(batch);
  }

  /** Stores records as a batch of their own (tests, tools). */
  insert(rows: readonly DecisionRecord[]): void {
    this.write({ id: randomUUID(), records: rows, overflow: [] });
  }

  /** The org's decisions, newest first. */
  recent(orgId: string, limit: number): DecisionRecord[] {
    return this.db
      .prepare<[string, number], Record<string, string | number>>(
        `SELECT * FROM decision_log WHERE org_id = ?
         ORDER BY at_ms DESC, segment DESC, position DESC LIMIT ?`,
      )
      .all(orgId, limit)
      .map(decisionFromLogRow);
  }

  /** The org's overflow summaries, oldest window first. */
  overflow(orgId: string): OverflowSummary[] {
    return this.db
      .prepare<[string], Record<string, string | number>>(
        "SELECT * FROM decision_overflow WHERE org_id = ? ORDER BY window_start_ms, seq",
      )
      .all(orgId)
      .map(overflowFromRow);
  }

  count(): number {
    return (
      this.db.prepare<[], { n: number | null }>("SELECT sum(count) AS n FROM decision_segments").get()?.n ?? 0
    );
  }
}
