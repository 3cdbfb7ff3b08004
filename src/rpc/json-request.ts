import { type DescEnum, type DescField, type DescMessage, fromJson } from "@bufbuild/protobuf";
import { TierSchema } from "../../gen/tessera/v1/types_pb.js";
import { TesseraError } from "../domain/errors.js";

/**
 * Enums whose values may also be written as the lower-case name without the enum's prefix,
 * as the CLI and policy YAML write them: `"tier": "verified"` for TIER_VERIFIED. The fields
 * that take them are found from the descriptors, wherever a request nests one.
 */
const ALIASED_ENUMS: readonly DescEnum[] = [TierSchema];

/** An enum's accepted JSON strings: value names, and for ALIASED_ENUMS the aliases. */
interface EnumNames {
  readonly names: ReadonlySet<string>;
  /** alias → value name. */
  readonly aliases: ReadonlyMap<string, string>;
  /** The accepted spellings, for a refusal. */
  readonly hint: string;
}

const enumNames = new WeakMap<DescEnum, EnumNames>();
const fieldIndex = new WeakMap<DescMessage, ReadonlyMap<string, DescField>>();

function namesOf(e: DescEnum): EnumNames {
  let found = enumNames.get(e);
  if (found) return found;
  const aliases = new Map<string, string>();
  if (ALIASED_ENUMS.some((a) => a.typeName === e.typeName)) {
    // The zero value (…_UNSPECIFIED) names no tier: it gets no alias.
    for (const v of e.values.slice(1)) aliases.set(v.localName.toLowerCase(), v.name);
  }
  const spelled = aliases.size > 0 ? [...aliases.keys()] : e.values.map((v) => v.name);
  found = { names: new Set(e.values.map((v) => v.name)), aliases, hint: spelled.join(", ") };
  enumNames.set(e, found);
  return found;
}

/** A message's fields by every key protobuf JSON accepts for them: the proto name and the JSON name. */
function fieldsOf(desc: DescMessage): ReadonlyMap<string, DescField> {
  let found = fieldIndex.get(desc);
  if (found) return found;
  const map = new Map<string, DescField>();
  for (const f of desc.fields) map.set(f.name, f).set(f.jsonName, f);
  fieldIndex.set(desc, map);
  found = map;
  return found;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Well-known types have JSON forms of their own (Struct is free-form): the decoder checks them. */
const ownJson = (desc: DescMessage) => desc.typeName.startsWith("google.protobuf.");

/** A value as it may be quoted in a refusal: short, whatever the caller sent. */
function quoted(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}

/** A well-known type's value (a Timestamp, Duration, Struct…) must decode: refused naming its path. */
function decodes(desc: DescMessage, value: unknown, path: string): void {
  if (value === null) return;
  try {
    fromJson(desc, value as never);
  } catch {
    throw new TesseraError("REQUEST_MALFORMED", `${path}: not a valid ${desc.typeName} in JSON`, {
      field: path,
    });
  }
}

/** What a walk did besides checking: whether it replaced an alias (the text must then be re-serialized). */
interface Walk {
  rewritten: boolean;
}

/** An enum value as the decoder takes it, an alias replaced by its value name; refused when the enum has no such value. */
function enumValue(e: DescEnum, value: unknown, path: string, walk: Walk): unknown {
  if (value === null) return value;
  const { names, aliases, hint } = namesOf(e);
  if (typeof value === "string") {
    if (names.has(value)) return value;
    const named = aliases.get(value);
    if (named) {
      walk.rewritten = true;
      return named;
    }
  } else if (typeof value === "number" && e.values.some((v) => v.number === value)) {
    return value;
  }
  throw new TesseraError("ENUM_VALUE_UNKNOWN", `${path}: ${quoted(value)} is not one of ${hint}`, {
    field: path,
  });
}

/** Checks one field's JSON value in place (enum aliases replaced), recursing into messages. */
function checkField(field: DescField, value: unknown, path: string, walk: Walk): unknown {
  switch (field.fieldKind) {
    case "enum":
      return enumValue(field.enum, value, path, walk);
    case "message":
      if (ownJson(field.message)) decodes(field.message, value, path);
      else if (isObject(value)) checkMessage(field.message, value, path, walk);
      return value;
    case "list":
      if (!Array.isArray(value)) return value;
      for (let i = 0; i < value.length; i++) {
        const at = `${path}[${i}]`;
        if (field.listKind === "enum") value[i] = enumValue(field.enum, value[i], at, walk);
        else if (field.listKind === "message" && !ownJson(field.message) && isObject(value[i]))
          checkMessage(field.message, value[i] as Record<string, unknown>, at, walk);
      }
      return value;
    case "map":
      if (!isObject(value)) return value;
      for (const key of Object.keys(value)) {
        const at = `${path}[${JSON.stringify(key)}]`;
        if (field.mapKind === "enum") value[key] = enumValue(field.enum, value[key], at, walk);
        else if (field.mapKind === "message" && !ownJson(field.message) && isObject(value[key]))
          checkMessage(field.message, value[key] as Record<string, unknown>, at, walk);
      }
      return value;
    default:
      return value;
  }
}

function checkMessage(desc: DescMessage, json: Record<string, unknown>, prefix: string, walk: Walk): void {
  const fields = fieldsOf(desc);
  for (const key of Object.keys(json)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const field = fields.get(key);
    if (!field)
      throw new TesseraError(
        "FIELD_UNKNOWN",
        `unknown field ${quoted(path)}: ${desc.typeName} has no such field`,
        {
          field: path,
        },
      );
    json[key] = checkField(field, json[key], path, walk);
  }
}

/**
 * The field a protobuf-es decoding error names: its FieldError (not exported; it has
 * `field()`), thrown as is or as the `cause` of the decoder's own error.
 */
function fieldOfError(err: unknown): string | undefined {
  for (let e = err as { field?: unknown; cause?: unknown } | undefined, i = 0; e && i < 4; i++) {
    if (typeof e.field === "function") {
      const name = (e.field() as { name?: unknown } | undefined)?.name;
      if (typeof name === "string") return name;
    }
    e = e.cause as typeof e;
  }
  return undefined;
}

/**
 * Checks a request's JSON (already parsed) against its message before any decoder sees it:
 * every key must be a field (at any depth), every enum value one the enum has (or a tier
 * alias, replaced by its value name in place), and the whole must decode. Refusals are
 * INVALID_ARGUMENT naming the field (`details.field`), in our words: protobuf-es's ignore
 * unknown keys and enum strings under Connect's defaults, and word their errors their own way.
 * True when an alias was replaced: the JSON must then be serialized again.
 */
export function checkJsonRequest(desc: DescMessage, json: unknown): boolean {
  if (!isObject(json))
    throw new TesseraError("REQUEST_MALFORMED", `the request body must be a JSON object (${desc.typeName})`);
  const walk: Walk = { rewritten: false };
  checkMessage(desc, json, "", walk);
  try {
    fromJson(desc, json as never);
  } catch (err) {
    const field = fieldOfError(err);
    if (field) {
      throw new TesseraError("REQUEST_MALFORMED", `${field}: not a valid value for this field`, { field });
    }
    throw new TesseraError("REQUEST_MALFORMED", `the request body is not a valid ${desc.typeName}`);
  }
  return walk.rewritten;
}
