import { type Timestamp, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { parseDuration } from "../../config/duration.js";
import { UsageError } from "../output.js";

/**
 * A point in time as a flag gives it: a duration back from now (`15m`, `1h`, `2d`) or an
 * ISO 8601 time (`2026-11-30T00:00:00Z`).
 */
export function timeFlag(flag: string, text: string | undefined, nowMs = Date.now()): Timestamp | undefined {
  if (text === undefined || text === "") return undefined;
  const back = parseDuration(text);
  if (back !== undefined) return timestampFromMs(nowMs - back * 1000);
  const ms = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(ms))
    throw new UsageError(`${flag} takes a duration back from now (1h, 30m) or an ISO 8601 time`);
  return timestampFromMs(ms);
}

/** `--limit`: how many records in all (0: every one). */
export function limitFlag(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new UsageError("--limit takes a whole number (0: no limit)");
  return n;
}

/** One JSON object per line (JSON lines), the export format of both queries. */
export function jsonLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/**
 * Pages through a query until it has no more or `limit` records were printed; `print` is called
 * once per record. Returns how many were printed.
 */
export async function pageThrough<R>(
  limit: number,
  fetch: (
    cursor: string,
    pageSize: number,
  ) => Promise<{ records: R[]; nextCursor: string; hasMore: boolean }>,
  print: (r: R) => void,
): Promise<number> {
  let cursor = "";
  let printed = 0;
  for (;;) {
    const want = limit === 0 ? 1000 : Math.min(1000, limit - printed);
    const page = await fetch(cursor, want);
    for (const r of page.records) print(r);
    printed += page.records.length;
    cursor = page.nextCursor;
    if (!page.hasMore || (limit !== 0 && printed >= limit)) return printed;
  }
}
