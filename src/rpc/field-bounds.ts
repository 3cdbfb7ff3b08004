import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import type { FieldBound } from "../domain/limits.js";

/** What every request table looks like: `package.Message.field` → its bound. */
export type BoundTable = Readonly<Record<string, FieldBound>>;

/** The table key of a field, e.g. `tessera.v1.AuthorizeRequest.scope`. */
export function fieldKey(field: DescField): string {
  return `${field.parent.typeName}.${field.name}`;
}

/** True for google.protobuf.Struct, which protobuf-es hands over as a plain JSON object. */
export function isStruct(desc: DescMessage): boolean {
  return desc.typeName === "google.protobuf.Struct";
}

const isText = (s: ScalarType | undefined) => s === ScalarType.STRING || s === ScalarType.BYTES;

/** A message of numbers only (Timestamp, Duration): its size on the wire is fixed. */
function isFixedMessage(desc: DescMessage): boolean {
  return desc.fields.every((f) => f.fieldKind === "enum" || (f.fieldKind === "scalar" && !isText(f.scalar)));
}

/** Why `bound` cannot bound `field`, or undefined when it fits the field's type. */
function mismatch(field: DescField, bound: FieldBound): string | undefined {
  const ok = (() => {
    switch (bound.kind) {
      case "fixed":
        if (field.fieldKind === "scalar") return !isText(field.scalar);
        if (field.fieldKind === "message") return isFixedMessage(field.message);
        return field.fieldKind === "enum";
      case "nested":
        return field.fieldKind === "message" && !isStruct(field.message);
      case "string":
        return field.fieldKind === "scalar" && isText(field.scalar);
      case "struct":
        return field.fieldKind === "message" && isStruct(field.message);
      case "list":
        if (field.fieldKind !== "list") return false;
        if (field.listKind === "message") return !isStruct(field.message) && bound.itemBytes === undefined;
        return isText(field.scalar) === (bound.itemBytes !== undefined);
      case "map":
        if (field.fieldKind !== "map") return false;
        if (field.mapKind === "message") return !isStruct(field.message) && bound.valueBytes === undefined;
        return isText(field.scalar) === (bound.valueBytes !== undefined);
    }
  })();
  return ok
    ? undefined
    : `${fieldKey(field)}: a "${bound.kind}" bound does not fit a ${field.fieldKind} field`;
}

/** The message a field leads into, when its bound says to check that message's fields too. */
export function innerMessage(field: DescField, bound: FieldBound): DescMessage | undefined {
  if (bound.kind === "nested" && field.fieldKind === "message") return field.message;
  if (bound.kind === "list" && field.fieldKind === "list" && field.listKind === "message")
    return field.message;
  if (bound.kind === "map" && field.fieldKind === "map" && field.mapKind === "message") return field.message;
  return undefined;
}

/**
 * Every field reachable from `root` that has no bound in `table`, or a bound of the wrong kind,
 * named by its table key: empty when the message is fully bounded.
 */
export function boundProblems(root: DescMessage, table: BoundTable, seen = new Set<DescMessage>()): string[] {
  if (seen.has(root)) return [];
  seen.add(root);
  const problems: string[] = [];
  for (const field of root.fields) {
    const bound = table[fieldKey(field)];
    if (!bound) {
      problems.push(`${fieldKey(field)}: no bound (add it to REQUEST_LIMITS in src/domain/limits.ts)`);
      continue;
    }
    const wrong = mismatch(field, bound);
    if (wrong) problems.push(wrong);
    const inner = wrong ? undefined : innerMessage(field, bound);
    if (inner) problems.push(...boundProblems(inner, table, seen));
  }
  return problems;
}
