import { TesseraError } from "../domain/errors.js";
import type { AdminAuditLog, AuditFilter, AuditRecord } from "../store/admin-audit.js";
import type { Async } from "../store/contract/async.js";
import type { DecisionFilter, DecisionQuery, LogPosition } from "../store/decision-query.js";
import type { DecisionRecord } from "../store/decisions.js";

/** Records per page when the caller names no limit, and the most it may ask for. */
export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;
/** Decisions one QueryDecisions call examines at most (a filter matching little stops here). */
export const SCAN_BUDGET = 200_000;

/** An audit query as the caller asks it: the store's filter, a page size and where to resume. */
export type AuditQueryInput = Omit<AuditFilter, "afterSeq" | "limit"> & {
  readonly limit?: number | undefined;
  readonly cursor?: string | undefined;
};

export interface DecisionQueryInput extends DecisionFilter {
  readonly limit?: number | undefined;
  readonly cursor?: string | undefined;
  readonly newestFirst?: boolean | undefined;
}

export interface Page<T> {
  readonly records: T[];
  /** Where the next page starts; "" only when nothing was ever read. */
  readonly nextCursor: string;
  readonly hasMore: boolean;
}

/**
 * Opaque cursors: base64url of a tagged list of integers. The tag keeps an audit cursor from
 * being taken as a decision cursor; the org is not in it, because every query is scoped to the
 * caller's org anyway (a cursor from another org only says where to start reading this one).
 */
function encodeCursor(tag: "a" | "d", parts: readonly number[]): string {
  return Buffer.from(`${tag}1:${parts.join(":")}`).toString("base64url");
}

function decodeCursor(tag: "a" | "d", cursor: string | undefined, n: number): number[] | undefined {
  if (!cursor) return undefined;
  const bad = () => new TesseraError("CURSOR_INVALID", "the cursor is not one this query handed out");
  if (cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  const text = Buffer.from(cursor, "base64url").toString();
  const m = /^([ad])1:(\d{1,15}(?::\d{1,15})*)$/.exec(text);
  if (!m || m[1] !== tag) throw bad();
  const parts = (m[2] as string).split(":").map(Number);
  if (parts.length !== n) throw bad();
  return parts;
}

function pageSize(limit: number | undefined): number {
  if (!limit) return DEFAULT_PAGE;
  return Math.min(Math.max(1, Math.floor(limit)), MAX_PAGE);
}

/** QueryAudit and QueryDecisions over the store, each scoped to the org the caller proved. */
export class AuditQueries {
  /** `scanBudget`: decisions one call examines at most (default SCAN_BUDGET). */
  constructor(
    private readonly audit: Async<AdminAuditLog>,
    private readonly decisions: Async<DecisionQuery>,
    private readonly scanBudget = SCAN_BUDGET,
  ) {}

  async queryAudit(q: AuditQueryInput): Promise<Page<AuditRecord>> {
    const limit = pageSize(q.limit);
    const after = decodeCursor("a", q.cursor, 1)?.[0];
    // One more than asked for says whether there is a next page.
    const rows = await this.audit.query({ ...q, afterSeq: after, limit: limit + 1 });
    const records = rows.slice(0, limit);
    const last = records.at(-1)?.seq ?? after;
    return {
      records,
      nextCursor: last === undefined ? (q.cursor ?? "") : encodeCursor("a", [last]),
      hasMore: rows.length > limit,
    };
  }

  async queryDecisions(q: DecisionQueryInput): Promise<Page<DecisionRecord>> {
    const parts = decodeCursor("d", q.cursor, 2);
    const after: LogPosition | undefined = parts && {
      segment: parts[0] as number,
      position: parts[1] as number,
    };
    const page = await this.decisions.scan({
      filter: q,
      after,
      newestFirst: q.newestFirst,
      limit: pageSize(q.limit),
      budget: this.scanBudget,
    });
    const resume = page.resume;
    return {
      records: page.records.map(({ segment: _s, position: _p, ...r }) => r),
      nextCursor: resume ? encodeCursor("d", [resume.segment, resume.position]) : (q.cursor ?? ""),
      hasMore: page.more,
    };
  }
}
