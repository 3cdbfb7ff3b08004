import type { DecisionBatch, DecisionRecord, OverflowSummary } from "../store/decisions.js";

/** The text fields of a record that repeat from decision to decision (org, subject, scope, rule…). */
const TEXT_FIELDS = [
  "orgId",
  "subjectId",
  "scope",
  "resourceKind",
  "resourceId",
  "reason",
  "rule",
  "caller",
  "subjectOrg",
] as const;
type TextField = (typeof TEXT_FIELDS)[number];
const WIDTH = TEXT_FIELDS.length;

/**
 * A batch of decision records as it crosses to the writer thread: numbers in typed arrays and
 * every distinct string once. Structured cloning an array of objects costs about twice as
 * much, and the event loop pays for it under load.
 */
export interface EncodedBatch {
  readonly batchId: string;
  readonly count: number;
  readonly ids: string[];
  readonly atMs: Float64Array;
  readonly revisions: Float64Array;
  readonly allowed: Uint8Array;
  readonly strings: string[];
  /** For record i, field f: strings[codes[i * WIDTH + f]]. */
  readonly codes: Uint32Array;
  /** Rare (an org over its quota): sent as they are. */
  readonly overflow: readonly OverflowSummary[];
}

export function encodeBatch(b: DecisionBatch): EncodedBatch {
  const rows = b.records;
  const n = rows.length;
  const batch: EncodedBatch = {
    batchId: b.id,
    count: n,
    ids: new Array<string>(n),
    atMs: new Float64Array(n),
    revisions: new Float64Array(n),
    allowed: new Uint8Array(n),
    strings: [],
    codes: new Uint32Array(n * WIDTH),
    overflow: b.overflow,
  };
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = rows[i] as DecisionRecord;
    batch.ids[i] = r.id;
    batch.atMs[i] = r.atMs;
    batch.revisions[i] = r.revision;
    batch.allowed[i] = r.allowed ? 1 : 0;
    for (let f = 0; f < WIDTH; f++) {
      const value = r[TEXT_FIELDS[f] as TextField] ?? "";
      let code = seen.get(value);
      if (code === undefined) {
        code = batch.strings.length;
        batch.strings.push(value);
        seen.set(value, code);
      }
      batch.codes[i * WIDTH + f] = code;
    }
  }
  return batch;
}

export function decodeBatch(b: EncodedBatch): DecisionBatch {
  const rows: DecisionRecord[] = [];
  for (let i = 0; i < b.count; i++) {
    const text = {} as Record<TextField, string>;
    for (let f = 0; f < WIDTH; f++)
      text[TEXT_FIELDS[f] as TextField] = b.strings[b.codes[i * WIDTH + f] as number] as string;
    // Only a trusted org's token has a subject org of its own; the rest leave it out.
    const { subjectOrg, ...rest } = text;
    rows.push({
      ...rest,
      ...(subjectOrg ? { subjectOrg } : {}),
      id: b.ids[i] as string,
      atMs: b.atMs[i] as number,
      allowed: b.allowed[i] === 1,
      revision: b.revisions[i] as number,
    });
  }
  return { id: b.batchId, records: rows, overflow: b.overflow };
}
