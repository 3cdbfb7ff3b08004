import {
  type DecisionPage,
  type DecisionScan,
  type SegmentRead,
  type SegmentRow,
  scanSteps,
} from "../decision-query.js";
import type { Sql } from "./pg-db.js";

// A segment's records come back only when it is in range and its text holds the needle (the
// server tests the stored text, as SQLite's instr does, so the others never cross the wire).
const COLUMNS = `seq, first_at_ms, last_at_ms, count,
  CASE WHEN last_at_ms >= $3 AND first_at_ms < $4 AND strpos(records::text, $5) > 0
       THEN records::text END AS records`;
// Both walk one org's segments in seq order on decision_segments_org_seq.
const ASC = `SELECT ${COLUMNS} FROM decision_segments
  WHERE org_id = $1 AND seq >= $2 ORDER BY seq LIMIT $6`;
const DESC = `SELECT ${COLUMNS} FROM decision_segments
  WHERE org_id = $1 AND seq <= $2 AND seq >= $7 ORDER BY seq DESC LIMIT $6`;
// Where a time range starts. The fence (OFFSET 0) keeps the planner on the time index: asked for
// min(seq) it would rather walk the primary key from the oldest segment, hoping to meet one in
// range early, which on a log in time order means reading nearly all of it.
const FIRST_IN_RANGE = `SELECT min(seq) AS seq FROM (
  SELECT seq FROM decision_segments WHERE org_id = $1 AND last_at_ms >= $2 OFFSET 0) AS r`;
/** Segments the first read of a scan asks for (then twice as many, up to CHUNK). */
const FIRST_CHUNK = 4;

/**
 * DecisionQuery on PostgreSQL: the same scan (store/decision-query.ts scanSteps), so the same
 * filter and cursor give the same records, order, resume point and `more` on either backend.
 */
export class PgDecisionQuery {
  constructor(private readonly sql: Sql) {}

  async scan(q: DecisionScan): Promise<DecisionPage> {
    const f = q.filter;
    const lo =
      f.fromMs === undefined
        ? 0
        : (await this.sql.one<{ seq: number | null }>(FIRST_IN_RANGE, [f.orgId, f.fromMs]))?.seq;
    const steps = scanSteps(q, lo, FIRST_CHUNK);
    for (let step = steps.next(); ; ) {
      if (step.done) return step.value;
      step = steps.next(await this.read(step.value));
    }
  }

  private read({ newestFirst, params: p, chunk }: SegmentRead): Promise<SegmentRow[]> {
    const args = [p.org, p.next, p.from, p.to, p.needle, chunk];
    return newestFirst ? this.sql.query(DESC, [...args, p.lo]) : this.sql.query(ASC, args);
  }
}
