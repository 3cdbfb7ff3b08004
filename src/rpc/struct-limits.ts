import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { ErrorReason } from "../domain/errors.js";
import type { StructBounds } from "../domain/limits.js";
import { utf8Length } from "../domain/utf8.js";

/*
 * What a failed field check returns, and the check of a google.protobuf.Struct (which
 * protobuf-es hands over as a plain JSON object) against its StructBounds.
 */

/** The kind of bound a violation exceeded, as the `unit` error detail names it. */
export type Unit = "bytes" | "items" | "entries" | "levels" | "key bytes" | "total bytes";

/** A bound that was exceeded; `path` grows as the failure returns through each enclosing field. */
export class Violation {
  constructor(
    public path: string,
    readonly limit: number,
    readonly unit: Unit,
    readonly reason: ErrorReason = "FIELD_TOO_LARGE",
  ) {}
}

/** The check of one value: undefined when it fits. */
export type Check = (value: unknown) => Violation | undefined;

/** Prefixes a field name (`resource`) or an index (`[3]`) to the violation's path. */
export function under(v: Violation, segment: string): Violation {
  if (v.path === "") v.path = segment;
  else v.path = v.path.charCodeAt(0) === 91 /* [ */ ? segment + v.path : `${segment}.${v.path}`;
  return v;
}

// Running totals of the Struct being walked: checks are synchronous, so one set serves all.
let entries = 0;
let total = 0;
/** False on the first walk, which sizes strings at 3 bytes per UTF-16 unit instead of counting. */
let exact = false;

/** A string's size: an upper bound on the quick walk, its UTF-8 bytes on the exact one. */
const sized = (s: string, stop: number) => (exact ? utf8Length(s, stop) : s.length * 3);

function walkValue(v: JsonValue, b: StructBounds, depth: number): Violation | undefined {
  if (typeof v === "string") {
    const n = sized(v, b.stringBytes);
    if (n > b.stringBytes) return new Violation("", b.stringBytes, "bytes");
    total += n;
    return total > b.totalBytes ? new Violation("", b.totalBytes, "total bytes") : undefined;
  }
  if (v === null || typeof v !== "object") return undefined;
  return Array.isArray(v) ? walkList(v, b, depth + 1) : walkObject(v as JsonObject, b, depth + 1);
}

function walkList(list: JsonValue[], b: StructBounds, depth: number): Violation | undefined {
  if (depth > b.depth) return new Violation("", b.depth, "levels");
  for (let i = 0; i < list.length; i++) {
    if (++entries > b.entries) return new Violation("", b.entries, "entries");
    const v = walkValue(list[i] as JsonValue, b, depth);
    if (v) return under(v, `[${i}]`);
  }
  return undefined;
}

function walkObject(o: JsonObject, b: StructBounds, depth: number): Violation | undefined {
  if (depth > b.depth) return new Violation("", b.depth, "levels");
  for (const key in o) {
    if (++entries > b.entries) return new Violation("", b.entries, "entries");
    const n = sized(key, b.keyBytes);
    if (n > b.keyBytes) return new Violation("", b.keyBytes, "key bytes");
    total += n;
    if (total > b.totalBytes) return new Violation("", b.totalBytes, "total bytes");
    const v = walkValue(o[key] as JsonValue, b, depth);
    if (v) return under(v, key);
  }
  return undefined;
}

function walkStruct(value: JsonObject, b: StructBounds, exactly: boolean): Violation | undefined {
  entries = 0;
  total = 0;
  exact = exactly;
  return walkObject(value, b, 1);
}

/** The check of a Struct field: levels, entries, key and string sizes, and its total size. */
export function structCheck(b: StructBounds): Check {
  return (value) => {
    if (value === undefined) return undefined;
    // Most Structs fit even at 3 bytes a unit; only one that does not is counted byte by byte.
    let v = walkStruct(value as JsonObject, b, false);
    if (v) v = walkStruct(value as JsonObject, b, true);
    // Counts and totals belong to the whole Struct, not to where they ran out.
    if (v && (v.unit === "entries" || v.unit === "total bytes")) v.path = "";
    return v;
  };
}
