/**
 * Boundary cases generated from the bound table: for every bounded field reachable from a
 * request, the largest value it allows and one byte (or item, entry, level) more. Generated
 * from the same table and descriptors the server uses, so a new field cannot escape them.
 */
import {
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
  ScalarType,
} from "@bufbuild/protobuf";
import type { ErrorReason } from "../../src/domain/errors.js";
import { type FieldBound, REQUEST_LIMITS, type StructBounds } from "../../src/domain/limits.js";
import { fieldKey } from "../../src/rpc/field-bounds.js";

type Init = Record<string, unknown>;

/** One bound of one field, as two requests (init shapes for `create(method.input, …)`). */
export interface LimitCase {
  readonly method: DescMethod;
  /** e.g. `AuthorizeBatch checks[0].resource.id (256 bytes)`. */
  readonly name: string;
  /** The `field` detail the over-limit request must be refused with. */
  readonly field: string;
  readonly reason: ErrorReason;
  /** The `limit` and `unit` details of the refusal. */
  readonly limit: number;
  readonly unit: string;
  readonly largest: Init;
  readonly over: Init;
}

/** `n` UTF-8 bytes in half as many UTF-16 units where it can (é is 2 bytes): sizes are bytes. */
export function fill(n: number): string {
  return "é".repeat(Math.floor(n / 2)) + (n % 2 === 1 ? "a" : "");
}

type Wrap = (value: unknown) => Init;
type Emit = (c: Omit<LimitCase, "method" | "name">) => void;

/** Sets one field of a message init, through its oneof when it has one. */
function setField(field: DescField, value: unknown): Init {
  return field.oneof
    ? { [field.oneof.localName]: { case: field.localName, value } }
    : { [field.localName]: value };
}

const LONG_SCALARS = new Set([
  ScalarType.INT64,
  ScalarType.UINT64,
  ScalarType.SINT64,
  ScalarType.FIXED64,
  ScalarType.SFIXED64,
]);

/** A small list item of the field's element type. */
function smallItem(field: DescField): unknown {
  if (field.fieldKind !== "list") return undefined;
  if (field.listKind === "message") return {};
  if (field.listKind === "enum") return 0;
  if (field.scalar === ScalarType.STRING) return "a";
  if (field.scalar === ScalarType.BYTES) return new Uint8Array(1);
  if (field.scalar === ScalarType.BOOL) return false;
  return LONG_SCALARS.has(field.scalar) ? 0n : 0;
}

const sized = (field: DescField, n: number): unknown =>
  field.scalar === ScalarType.BYTES ? new Uint8Array(n) : fill(n);

function nest(levels: number): Init {
  return levels <= 1 ? {} : { a: nest(levels - 1) };
}

/** A Struct whose keys and string values come to exactly `total` bytes. */
function totalling(total: number, stringBytes: number): Init {
  const out: Init = {};
  let left = total;
  for (let i = 0; left > 0; i++) {
    const key = `v${i}`;
    const value = Math.min(stringBytes, left - key.length);
    out[key] = fill(value);
    left -= key.length + value;
  }
  return out;
}

function structCases(path: string, b: StructBounds, set: Wrap, emit: Emit): void {
  const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, null]));
  const largestString = Math.min(b.stringBytes, b.totalBytes - 1);
  const base = { reason: "FIELD_TOO_LARGE" as const };
  emit({
    ...base,
    unit: "levels",
    limit: b.depth,
    field: `${path}${".a".repeat(b.depth)}`,
    largest: set(nest(b.depth)),
    over: set(nest(b.depth + 1)),
  });
  emit({
    ...base,
    unit: "entries",
    limit: b.entries,
    field: path,
    largest: set(keys(b.entries)),
    over: set(keys(b.entries + 1)),
  });
  emit({
    ...base,
    unit: "key bytes",
    limit: b.keyBytes,
    field: path,
    largest: set({ [fill(b.keyBytes)]: null }),
    over: set({ [fill(b.keyBytes + 1)]: null }),
  });
  emit({
    ...base,
    unit: "bytes",
    limit: b.stringBytes,
    field: `${path}.s`,
    largest: set({ s: fill(largestString) }),
    over: set({ s: fill(b.stringBytes + 1) }),
  });
  const full = totalling(b.totalBytes, b.stringBytes);
  emit({
    ...base,
    unit: "total bytes",
    limit: b.totalBytes,
    field: path,
    largest: set(full),
    over: set({ ...full, x: null }),
  });
}

function listCases(
  field: DescField,
  bound: FieldBound & { kind: "list" },
  path: string,
  set: Wrap,
  emit: Emit,
): void {
  const items = (n: number) => Array.from({ length: n }, () => smallItem(field));
  const reason = bound.reason ?? "FIELD_TOO_LARGE";
  emit({
    reason,
    unit: "items",
    limit: bound.maxItems,
    field: path,
    largest: set(items(bound.maxItems)),
    over: set(items(bound.maxItems + 1)),
  });
  if (bound.itemBytes === undefined) return;
  const n = bound.itemBytes;
  emit({
    reason: "FIELD_TOO_LARGE",
    unit: "bytes",
    limit: n,
    field: `${path}[0]`,
    largest: set([sized(field, n)]),
    over: set([sized(field, n + 1)]),
  });
}

function mapCases(
  field: DescField,
  bound: FieldBound & { kind: "map" },
  path: string,
  set: Wrap,
  emit: Emit,
): void {
  const value = bound.valueBytes === undefined ? {} : "";
  const entries = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, value]));
  const base = { reason: "FIELD_TOO_LARGE" as const, field: path };
  emit({
    ...base,
    unit: "entries",
    limit: bound.maxEntries,
    largest: set(entries(bound.maxEntries)),
    over: set(entries(bound.maxEntries + 1)),
  });
  emit({
    ...base,
    unit: "key bytes",
    limit: bound.keyBytes,
    largest: set({ [fill(bound.keyBytes)]: value }),
    over: set({ [fill(bound.keyBytes + 1)]: value }),
  });
  if (bound.valueBytes === undefined) return;
  const n = bound.valueBytes;
  emit({
    ...base,
    field: `${path}["k"]`,
    unit: "bytes",
    limit: n,
    largest: set({ k: sized(field, n) }),
    over: set({ k: sized(field, n + 1) }),
  });
}

function messageCases(desc: DescMessage, path: string, wrap: Wrap, emit: Emit, depth: number): void {
  if (depth > 8) return; // a message containing itself: deep enough to have covered every field
  for (const field of desc.fields) {
    const bound = REQUEST_LIMITS[fieldKey(field)];
    if (!bound) throw new Error(`no bound for ${fieldKey(field)}`);
    const at = path ? `${path}.${field.name}` : field.name;
    const set: Wrap = (value) => wrap(setField(field, value));
    if (bound.kind === "string") {
      const reason = bound.reason ?? "FIELD_TOO_LARGE";
      const n = bound.maxBytes;
      emit({
        reason,
        unit: "bytes",
        limit: n,
        field: at,
        largest: set(sized(field, n)),
        over: set(sized(field, n + 1)),
      });
    } else if (bound.kind === "struct") structCases(at, bound.bounds, set, emit);
    else if (bound.kind === "list") {
      listCases(field, bound, at, set, emit);
      if (field.fieldKind === "list" && field.listKind === "message")
        messageCases(field.message, `${at}[0]`, (inner) => set([inner]), emit, depth + 1);
    } else if (bound.kind === "map") {
      mapCases(field, bound, at, set, emit);
      if (field.fieldKind === "map" && field.mapKind === "message")
        messageCases(field.message, `${at}["k"]`, (inner) => set({ k: inner }), emit, depth + 1);
    } else if (bound.kind === "nested" && field.fieldKind === "message")
      messageCases(field.message, at, set, emit, depth + 1);
  }
}

/** Every boundary case of every method of `service`. */
export function limitCases(service: DescService): LimitCase[] {
  const cases: LimitCase[] = [];
  for (const method of service.methods) {
    messageCases(
      method.input,
      "",
      (v) => v as Init,
      (c) => cases.push({ ...c, method, name: `${method.name} ${c.field} (${c.limit} ${c.unit})` }),
      0,
    );
  }
  return cases;
}
