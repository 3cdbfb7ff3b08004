import type { DecisionRecord } from "../store/decisions.js";

/** What a record costs beyond its text: numbers, the allow flag and JSON punctuation. */
const RECORD_OVERHEAD = 64;

/** The text fields a caller can make long; `id`, `orgId` and `subjectOrg` are ours and short. */
const FREE_TEXT = ["subjectId", "scope", "resourceKind", "resourceId", "reason", "rule", "caller"] as const;
type FreeText = (typeof FREE_TEXT)[number];

/**
 * A record's size as the log budgets it: the length of its strings plus a fixed overhead.
 * String length (UTF-16 units) stands in for bytes: it is free to read on the hot path, and
 * the stored UTF-8 is at most three times larger.
 */
export function recordSize(r: DecisionRecord): number {
  return (
    RECORD_OVERHEAD +
    r.id.length +
    r.orgId.length +
    r.subjectId.length +
    r.scope.length +
    r.resourceKind.length +
    r.resourceId.length +
    r.reason.length +
    r.rule.length +
    (r.caller?.length ?? 0) +
    (r.subjectOrg?.length ?? 0)
  );
}

/**
 * The largest length each field may keep so the fields fit in `budget`: short fields keep all
 * of theirs, and the rest is shared equally among the long ones (water-filling).
 */
function fairCap(lengths: readonly number[], budget: number): number {
  const sorted = [...lengths].sort((a, b) => a - b);
  let left = budget;
  for (let i = 0; i < sorted.length; i++) {
    const share = Math.floor(left / (sorted.length - i));
    if ((sorted[i] as number) > share) return share;
    left -= sorted[i] as number;
  }
  return Number.POSITIVE_INFINITY;
}

/** `value` cut to at most `cap` characters, ending in a marker that gives its original length. */
export function truncateText(value: string, cap: number): string {
  const marker = `…[truncated from ${value.length} chars]`;
  let keep = Math.max(0, cap - marker.length);
  // Never split a surrogate pair: half of one is not valid UTF-16 and would not round-trip.
  const code = value.charCodeAt(keep - 1);
  if (keep > 0 && code >= 0xd800 && code <= 0xdbff) keep--;
  return value.slice(0, keep) + marker;
}

/**
 * The record cut down, field by field, to fit `maxBytes` (see recordSize): a record too large
 * to store must never make its batch unwritable. Returns the record itself when it fits.
 */
export function boundRecord(r: DecisionRecord, maxBytes: number): DecisionRecord {
  if (recordSize(r) <= maxBytes) return r;
  const ours = r.id.length + r.orgId.length + (r.subjectOrg?.length ?? 0);
  const budget = Math.max(0, maxBytes - RECORD_OVERHEAD - ours);
  const cap = fairCap(
    FREE_TEXT.map((f) => (r[f] ?? "").length),
    budget,
  );
  const out: Record<FreeText, string> = { ...r, caller: r.caller ?? "" };
  for (const f of FREE_TEXT) if (out[f].length > cap) out[f] = truncateText(out[f], cap);
  return { ...r, ...out };
}
