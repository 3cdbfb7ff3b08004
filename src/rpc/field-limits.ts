import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import { type ErrorReason, TesseraError } from "../domain/errors.js";
import { type FieldBound, REQUEST_LIMITS } from "../domain/limits.js";
import { utf8Fits } from "../domain/utf8.js";
import { type BoundTable, boundProblems, fieldKey, innerMessage } from "./field-bounds.js";
import { type Check, structCheck, under, Violation } from "./struct-limits.js";

/*
 * The field-limit check of a request, compiled once per method from its descriptor and the
 * bound table. On the way through nothing is allocated and a Struct is walked only when
 * present; a path to the offending field is built only on the way out of a failure.
 */

const tooLong = (max: number, reason?: ErrorReason): Check =>
  reason
    ? (v) => (utf8Fits(v as string, max) ? undefined : new Violation("", max, "bytes", reason))
    : (v) => (utf8Fits(v as string, max) ? undefined : new Violation("", max, "bytes"));
const tooManyBytes =
  (max: number): Check =>
  (v) =>
    (v as Uint8Array).length <= max ? undefined : new Violation("", max, "bytes");

function listCheck(maxItems: number, item: Check | undefined, reason?: ErrorReason): Check {
  return (value) => {
    const list = value as readonly unknown[];
    if (list.length > maxItems) return new Violation("", maxItems, "items", reason);
    if (item) {
      for (let i = 0; i < list.length; i++) {
        const v = item(list[i]);
        if (v) return under(v, `[${i}]`);
      }
    }
    return undefined;
  };
}

function mapCheck(maxEntries: number, keyBytes: number, value: Check | undefined): Check {
  return (map) => {
    let n = 0;
    for (const key in map as Record<string, unknown>) {
      if (++n > maxEntries) return new Violation("", maxEntries, "entries");
      if (!utf8Fits(key, keyBytes)) return new Violation("", keyBytes, "key bytes");
      const v = value?.((map as Record<string, unknown>)[key]);
      if (v) return under(v, `[${JSON.stringify(key)}]`);
    }
    return undefined;
  };
}

/** The check of one field's value, or undefined when its bound needs none (fixed, or nothing inside). */
function fieldCheck(field: DescField, bound: FieldBound, compiled: Compiled): Check | undefined {
  const inner = innerMessage(field, bound);
  const element = inner ? messageCheck(inner, compiled) : undefined;
  const isBytes =
    (field.fieldKind === "scalar" || field.fieldKind === "list") && field.scalar === ScalarType.BYTES;
  const text = (max: number) => (isBytes ? tooManyBytes(max) : tooLong(max));
  switch (bound.kind) {
    case "fixed":
      return undefined;
    case "nested":
      return element && ((v) => (v === undefined ? undefined : element(v)));
    case "string":
      return isBytes ? tooManyBytes(bound.maxBytes) : tooLong(bound.maxBytes, bound.reason);
    case "struct":
      return structCheck(bound.bounds);
    case "list":
      return listCheck(bound.maxItems, bound.itemBytes ? text(bound.itemBytes) : element, bound.reason);
    case "map":
      return mapCheck(bound.maxEntries, bound.keyBytes, bound.valueBytes ? text(bound.valueBytes) : element);
  }
}

interface Slot {
  readonly local: string;
  readonly name: string;
  readonly check: Check;
}

type Compiled = { readonly table: BoundTable; readonly done: Map<DescMessage, Check | undefined> };

/** The check of a message's fields; undefined when none of them can be large. */
function messageCheck(desc: DescMessage, compiled: Compiled): Check | undefined {
  if (compiled.done.has(desc)) return compiled.done.get(desc);
  // A message that contains itself: later references go through the finished check.
  let self: Check | undefined;
  compiled.done.set(desc, (v) => self?.(v));
  const plain: Slot[] = [];
  const oneofs = new Map<string, Record<string, Slot>>();
  for (const field of desc.fields) {
    const check = fieldCheck(field, compiled.table[fieldKey(field)] as FieldBound, compiled);
    if (!check) continue;
    const slot = { local: field.localName, name: field.name, check };
    if (!field.oneof) plain.push(slot);
    else oneofs.set(field.oneof.localName, { ...oneofs.get(field.oneof.localName), [field.localName]: slot });
  }
  const choices = [...oneofs].map(([local, members]) => ({ local, members }));
  self = plain.length + choices.length === 0 ? undefined : straightLine(plain, choices);
  compiled.done.set(desc, self);
  return self;
}

/**
 * One message's checks as straight-line code: each field read at its own site, so the engine
 * sees one shape per read (a loop over field names made every read megamorphic, ~10x slower).
 * The source is built only from descriptor names, quoted as JSON string literals.
 */
function straightLine(
  plain: readonly Slot[],
  choices: readonly { local: string; members: Record<string, Slot> }[],
): Check {
  const checks: Check[] = [];
  const call = (slot: Slot, value: string) => {
    checks.push(slot.check);
    const name = JSON.stringify(slot.name);
    return `v = c[${checks.length - 1}](${value}); if (v !== undefined) return under(v, ${name});`;
  };
  const lines = ["return function check(m) {", "var x, v;"];
  for (const s of plain) lines.push(call(s, `m[${JSON.stringify(s.local)}]`));
  for (const { local, members } of choices) {
    lines.push(`x = m[${JSON.stringify(local)}];`, "switch (x.case) {");
    for (const [name, s] of Object.entries(members))
      lines.push(`case ${JSON.stringify(name)}: ${call(s, "x.value")} break;`);
    lines.push("}");
  }
  lines.push("return undefined;", "};");
  const build = new Function("c", "under", lines.join("\n")) as (c: Check[], u: typeof under) => Check;
  return build(checks, under);
}

/** The refusal of a request that exceeds a bound: the field's path and the bound in the details. */
function refusal(v: Violation): TesseraError {
  return new TesseraError(v.reason, `${v.path} exceeds ${v.limit} ${v.unit}`, {
    field: v.path,
    limit: String(v.limit),
    unit: v.unit,
  });
}

/**
 * Compiles the size check of a request message: it throws FIELD_TOO_LARGE (or the bound's own
 * reason) naming the field, e.g. `checks[3].resource.id`. Undefined when no field can be large.
 * Throws at once (at bind time) if any field reachable from `desc` has no bound in `table`.
 */
export function compileFieldLimits(
  desc: DescMessage,
  table: BoundTable = REQUEST_LIMITS,
): ((request: object) => void) | undefined {
  const problems = boundProblems(desc, table);
  if (problems.length > 0) throw new Error(`unbounded request fields: ${problems.join("; ")}`);
  const check = messageCheck(desc, { table, done: new Map() });
  if (!check) return undefined;
  return (request) => {
    const v = check(request);
    if (v) throw refusal(v);
  };
}
