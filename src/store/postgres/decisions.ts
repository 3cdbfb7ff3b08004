import { randomUUID } from "node:crypto";
import {
  DEFAULT_MAX_SEGMENT_BYTES,
  type DecisionBatch,
  type DecisionRecord,
  type DecisionRepositoryOptions,
  fromStored,
  groupByOrg,
  type OverflowSummary,
  overflowFromRow,
  segmentsOf,
} from "../decisions.js";
import type { PgDb, Sql } from "./pg-db.js";

/** A stored record's time, the number after its id, in the record's JSON text. */
const AT_MS = String.raw`^\[\s*"(?:[^"\\]|\\.)*"\s*,\s*(-?[0-9]+)`;

/**
 * The decision log on PostgreSQL (see DecisionRepository): a batch is one transaction — its id
 * into decision_batches (`ON CONFLICT DO NOTHING` decides whether this call stores it, so a
 * batch retried, moved in from a spill file, or written by two replicas at once is stored once),
 * then every segment in one multi-row INSERT, then the overflow summaries in another.
 *
 * Durability: by default each batch commits with `synchronous_commit = off` (SQLite's NORMAL: a
 * commit survives a crash of this process, and the server's own crash may lose the last few
 * hundred milliseconds); after fsyncEachCommit() it commits as the server is configured (on, or
 * waiting for standbys), the decision log's sync durability.
 */
export class PgDecisionRepository {
  private readonly maxSegmentBytes: number;
  private fsync = false;

  constructor(
    private readonly db: PgDb,
    opts: DecisionRepositoryOptions = {},
  ) {
    this.maxSegmentBytes = opts.maxSegmentBytes ?? DEFAULT_MAX_SEGMENT_BYTES;
  }

  /** Makes every later batch commit durable as the server's synchronous_commit says: the sync durability. */
  fsyncEachCommit(): void {
    this.fsync = true;
  }

  /** Stores a batch in one transaction, all or none; false when a batch with its id was stored before. */
  write(batch: DecisionBatch): Promise<boolean> {
    return this.db.tx(async (sql) => {
      if (!this.fsync) await sql.query("SET LOCAL synchronous_commit = off");
      const marked = await sql.query(
        `INSERT INTO decision_batches (batch_id, written_at_ms) VALUES ($1, $2)
         ON CONFLICT (batch_id) DO NOTHING RETURNING batch_id`,
        [batch.id, Date.now()],
      );
      if (marked.length === 0) return false;
      await this.insertSegments(sql, batch.records);
      await insertOverflow(sql, batch.overflow);
      return true;
    });
  }

  /** Every org's segments in one statement, in the order SQLite inserts them (org by org). */
  private async insertSegments(sql: Sql, records: readonly DecisionRecord[]): Promise<void> {
    const orgs: string[] = [];
    const first: number[] = [];
    const last: number[] = [];
    const counts: number[] = [];
    const texts: string[] = [];
    for (const [orgId, list] of groupByOrg(records)) {
      for (const s of segmentsOf(list, this.maxSegmentBytes)) {
        orgs.push(orgId);
        first.push(s.firstAtMs);
        last.push(s.lastAtMs);
        counts.push(s.count);
        texts.push(s.records);
      }
    }
    if (orgs.length === 0) return;
    // Sequence numbers are drawn in ORDER BY n order: the segments keep the order they were cut in.
    await sql.query(
      `INSERT INTO decision_segments (org_id, first_at_ms, last_at_ms, count, records)
       SELECT o, f, l, c, r::json
         FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[])
              WITH ORDINALITY AS u(o, f, l, c, r, n)
        ORDER BY n`,
      [orgs, first, last, counts, texts],
    );
  }

  /** Stores records as a batch of their own (tests, tools). */
  async insert(rows: readonly DecisionRecord[]): Promise<void> {
    await this.write({ id: randomUUID(), records: rows, overflow: [] });
  }

  /**
   * The org's decisions, newest first. Each comes back as its stored JSON text, parsed here, and
   * is ordered on the time read from that text: PostgreSQL's `->` and `->>` refuse a string
   * holding `\u0000` (which a record may), so neither the view nor those operators serve.
   */
  async recent(orgId: string, limit: number): Promise<DecisionRecord[]> {
    const rows = await this.db.query<{ r: string }>(
      `SELECT j.v::text AS r FROM decision_segments s
         CROSS JOIN LATERAL json_array_elements(s.records) WITH ORDINALITY AS j(v, ord)
        WHERE s.org_id = $1
        ORDER BY substring(j.v::text from $3)::bigint DESC, s.seq DESC, j.ord DESC LIMIT $2`,
      [orgId, limit, AT_MS],
    );
    return rows.map((row) => fromStored(orgId, JSON.parse(row.r) as unknown[]));
  }

  /** The org's overflow summaries, oldest window first. */
  async overflow(orgId: string): Promise<OverflowSummary[]> {
    const rows = await this.db.query<Record<string, unknown>>(
      "SELECT * FROM decision_overflow WHERE org_id = $1 ORDER BY window_start_ms, seq",
      [orgId],
    );
    return rows.map(overflowFromRow);
  }

  async count(): Promise<number> {
    return (await this.db.one<{ n: number | null }>("SELECT sum(count) AS n FROM decision_segments"))?.n ?? 0;
  }
}

async function insertOverflow(sql: Sql, list: readonly OverflowSummary[]): Promise<void> {
  if (list.length === 0) return;
  const col = <T>(f: (o: OverflowSummary) => T) => list.map(f);
  await sql.query(
    `INSERT INTO decision_overflow (org_id, window_start_ms, window_end_ms, dropped, allowed, denied, dropped_bytes)
     SELECT o, s, e, d, a, n, b
       FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[])
            WITH ORDINALITY AS u(o, s, e, d, a, n, b, i)
      ORDER BY i`,
    [
      col((o) => o.orgId),
      col((o) => o.windowStartMs),
      col((o) => o.windowEndMs),
      col((o) => o.dropped),
      col((o) => o.allowed),
      col((o) => o.denied),
      col((o) => o.droppedBytes),
    ],
  );
}
