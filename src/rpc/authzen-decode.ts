import type { MintOptionsInput } from "../core/decide-mint.js";
import type { EvaluationInput, EvaluationsSemantic, SubjectRef } from "../core/evaluations.js";
import { TesseraError } from "../domain/errors.js";
import { AUTHZEN_LIMITS, LIMITS, STRUCT_LIMITS } from "../domain/limits.js";
import { utf8Fits } from "../domain/utf8.js";
import { structCheck } from "./struct-limits.js";

/*
 * The AuthZEN request bodies, checked by hand after JSON.parse (no reflective codec on this
 * path): known fields are checked for type and size, unknown fields are ignored (the spec's
 * forward compatibility), and a missing required field is REQUEST_MALFORMED naming it.
 */

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const checkStruct = structCheck(STRUCT_LIMITS);

const malformed = (field: string, what: string) =>
  new TesseraError("REQUEST_MALFORMED", `${field}: ${what}`, { field });

function tooLarge(field: string, limit: number, unit = "bytes"): TesseraError {
  return new TesseraError("FIELD_TOO_LARGE", `${field} is over its bound of ${limit} ${unit}`, {
    field,
    limit: String(limit),
    unit,
  });
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** The parsed body: a JSON object, or REQUEST_MALFORMED (empty, not UTF-8, not JSON, not an object). */
export function parseBody(body: Uint8Array | string): Json {
  let value: unknown;
  try {
    value = JSON.parse(typeof body === "string" ? body : UTF8.decode(body));
  } catch {
    throw new TesseraError("REQUEST_MALFORMED", "the body is not valid JSON in UTF-8", { field: "" });
  }
  if (!isObject(value)) throw malformed("", "the body must be a JSON object");
  return value;
}

/** An optional string field within its bound; undefined when absent. */
function str(o: Json, key: string, path: string, maxBytes: number): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw malformed(`${path}.${key}`, "must be a string");
  if (!utf8Fits(v, maxBytes)) throw tooLarge(`${path}.${key}`, maxBytes);
  return v;
}

/** An optional JSON object (properties, context), bounded like a Struct. */
function struct(o: Json, key: string, path: string): Json | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  const field = path ? `${path}.${key}` : key;
  if (!isObject(v)) throw malformed(field, "must be a JSON object");
  const violation = checkStruct(v);
  if (violation) {
    const at = violation.path ? `${field}.${violation.path}` : field;
    throw tooLarge(at, violation.limit, violation.unit);
  }
  return v;
}

/** Subject roles and tags, as Authorize bounds them: a list of short strings. */
function checkList(props: Json, key: string, path: string): void {
  const v = props[key];
  if (v === undefined) return;
  const field = `${path}.properties.${key}`;
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string"))
    throw malformed(field, "must be a list of strings");
  if (v.length > LIMITS.listItems) throw tooLarge(field, LIMITS.listItems, "items");
  for (const [i, x] of (v as string[]).entries()) {
    if (!utf8Fits(x, LIMITS.listItemBytes)) throw tooLarge(`${field}[${i}]`, LIMITS.listItemBytes);
  }
}

/** A subject or resource as given (either may be partial where it is a batch default). */
export interface Entity {
  readonly type?: string | undefined;
  readonly id?: string | undefined;
  readonly properties?: Json | undefined;
}

export interface Action {
  readonly name?: string | undefined;
  readonly properties?: Json | undefined;
}

/** The four parts of a question, each possibly absent. */
export interface Parts {
  readonly subject?: Entity | undefined;
  readonly action?: Action | undefined;
  readonly resource?: Entity | undefined;
  readonly context?: Json | undefined;
}

function entity(o: Json, key: "subject" | "resource", path: string): Entity | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  const at = path ? `${path}.${key}` : key;
  if (!isObject(v)) throw malformed(at, "must be a JSON object");
  const properties = struct(v, "properties", at);
  if (key === "subject" && properties) {
    checkList(properties, "roles", at);
    checkList(properties, "tags", at);
  }
  return {
    type: str(v, "type", at, AUTHZEN_LIMITS.typeBytes),
    id: str(v, "id", at, AUTHZEN_LIMITS.idBytes),
    properties,
  };
}

function action(o: Json, path: string): Action | undefined {
  const v = o.action;
  if (v === undefined) return undefined;
  const at = path ? `${path}.action` : "action";
  if (!isObject(v)) throw malformed(at, "must be a JSON object");
  return { name: str(v, "name", at, AUTHZEN_LIMITS.actionBytes), properties: struct(v, "properties", at) };
}

/** The parts of a question at `path` ("" for the top level, `evaluations[2]` for an item). */
export function parts(o: Json, path: string): Parts {
  return {
    subject: entity(o, "subject", path),
    action: action(o, path),
    resource: entity(o, "resource", path),
    context: struct(o, "context", path),
  };
}

/** A present, non-empty required string. */
function required(value: string | undefined, field: string): string {
  if (value === undefined || value === "") throw malformed(field, "is required");
  return value;
}

/**
 * The scope an action names: a `domain:verb` name is the scope itself; a bare name (`read`,
 * `can_read_todos`) is a verb of the resource's type (`record:read`).
 */
export function scopeOf(name: string, resourceType: string): string {
  return name.includes(":") ? name : `${resourceType}:${name}`;
}

/** The action name a scope answers to on a resource type: the inverse of scopeOf. */
export function actionNameOf(scope: string, resourceType: string): string {
  const prefix = `${resourceType}:`;
  return scope.startsWith(prefix) ? scope.slice(prefix.length) : scope;
}

function subjectRef(e: Entity | undefined, path: string): SubjectRef {
  if (!e) throw malformed(`${path}subject`, "is required");
  return {
    type: required(e.type, `${path}subject.type`),
    id: required(e.id, `${path}subject.id`),
    properties: e.properties,
  };
}

function resourceOf(e: Entity | undefined, path: string) {
  if (!e) throw malformed(`${path}resource`, "is required");
  return {
    kind: required(e.type, `${path}resource.type`),
    id: required(e.id, `${path}resource.id`),
    attr: e.properties ?? {},
  };
}

/**
 * Decide and mint (issue #12): `context.tessera_mint` is `true` (the server's defaults) or
 * `{"ttl_seconds": n, "audience": "…"}`; absent, no token is minted.
 */
function mintOf(context: Json | undefined, prefix: string): MintOptionsInput | undefined {
  const flag = context?.tessera_mint;
  if (flag === undefined || flag === false) return undefined;
  if (flag === true) return { ttlSeconds: undefined, audience: "" };
  const field = `${prefix}context.tessera_mint`;
  if (!isObject(flag)) throw malformed(field, "must be true or an object (ttl_seconds, audience)");
  for (const key of Object.keys(flag))
    if (key !== "ttl_seconds" && key !== "audience")
      throw malformed(`${field}.${key}`, "is not a mint option");
  const ttl = flag.ttl_seconds;
  if (ttl !== undefined && !(Number.isSafeInteger(ttl) && (ttl as number) > 0))
    throw malformed(`${field}.ttl_seconds`, "must be a positive whole number of seconds");
  const audience = str(flag, "audience", field, LIMITS.idBytes) ?? "";
  return { ttlSeconds: ttl as number | undefined, audience };
}

/** A complete question from its parts; REQUEST_MALFORMED naming the first missing field. */
export function question(p: Parts, path = ""): EvaluationInput {
  const prefix = path ? `${path}.` : "";
  const mint = mintOf(p.context, prefix);
  const subject = subjectRef(p.subject, prefix);
  if (!p.action) throw malformed(`${prefix}action`, "is required");
  const name = required(p.action.name, `${prefix}action.name`);
  const resource = resourceOf(p.resource, prefix);
  const context = p.action.properties ? { ...p.context, action: p.action.properties } : p.context;
  return { subject, scope: scopeOf(name, resource.kind), resource, context, ...(mint ? { mint } : {}) };
}

/**
 * An item's parts over the request's defaults: an item's subject, action or resource replaces
 * the default whole, except that a required identifier it leaves out (`type`, `id`, `name`)
 * comes from the default; its context replaces the default context.
 */
export function merged(top: Parts, item: Parts): Parts {
  const ent = (d: Entity | undefined, e: Entity | undefined): Entity | undefined =>
    e ? { type: e.type ?? d?.type, id: e.id ?? d?.id, properties: e.properties } : d;
  const act = item.action
    ? { name: item.action.name ?? top.action?.name, properties: item.action.properties }
    : top.action;
  return {
    subject: ent(top.subject, item.subject),
    action: act,
    resource: ent(top.resource, item.resource),
    context: item.context ?? top.context,
  };
}

const SEMANTICS: ReadonlySet<string> = new Set([
  "execute_all",
  "deny_on_first_deny",
  "permit_on_first_permit",
]);

/** `options.evaluations_semantic`, `execute_all` when absent. */
export function semanticOf(body: Json): EvaluationsSemantic {
  const options = body.options;
  if (options === undefined) return "execute_all";
  if (!isObject(options)) throw malformed("options", "must be a JSON object");
  const s = str(options, "evaluations_semantic", "options", AUTHZEN_LIMITS.semanticBytes);
  if (s === undefined) return "execute_all";
  if (!SEMANTICS.has(s))
    throw new TesseraError(
      "ENUM_VALUE_UNKNOWN",
      "options.evaluations_semantic must be execute_all, deny_on_first_deny or permit_on_first_permit",
      { field: "options.evaluations_semantic" },
    );
  return s as EvaluationsSemantic;
}

/** The `evaluations` array: absent or empty is undefined (the request is then one question). */
export function evaluationsOf(body: Json): unknown[] | undefined {
  const v = body.evaluations;
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw malformed("evaluations", "must be an array");
  if (v.length > AUTHZEN_LIMITS.evaluations)
    throw new TesseraError(
      "BATCH_TOO_LARGE",
      `a batch holds at most ${AUTHZEN_LIMITS.evaluations} evaluations`,
      {
        field: "evaluations",
        limit: String(AUTHZEN_LIMITS.evaluations),
        unit: "items",
      },
    );
  return v.length === 0 ? undefined : v;
}

/** A batch item: its question over the defaults, or the refusal of that item alone. */
export function itemQuestion(top: Parts, item: unknown, index: number): EvaluationInput | TesseraError {
  const path = `evaluations[${index}]`;
  try {
    if (!isObject(item)) throw malformed(path, "must be a JSON object");
    return question(merged(top, parts(item, path)), path);
  } catch (err) {
    if (err instanceof TesseraError) return err;
    throw err;
  }
}

/** A search's `page`: where to start (the previous answer's `next_token`) and how many at most. */
export function pageOf(body: Json, defaultLimit: number): { offset: number; limit: number } {
  const page = body.page;
  if (page === undefined) return { offset: 0, limit: defaultLimit };
  if (!isObject(page)) throw malformed("page", "must be a JSON object");
  const token = str(page, "token", "page", AUTHZEN_LIMITS.pageTokenBytes);
  if (token !== undefined && token !== "" && !/^[0-9]{1,9}$/.test(token))
    throw malformed("page.token", "is not a token this server gave");
  const limit = page.limit;
  if (limit !== undefined && (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1))
    throw malformed("page.limit", "must be a positive integer");
  return {
    offset: token ? Number(token) : 0,
    limit: Math.min((limit as number | undefined) ?? defaultLimit, defaultLimit),
  };
}

/** A subject search's subject: its type only (an id, if sent, is ignored). */
export function subjectTypeOf(p: Parts): string {
  if (!p.subject) throw malformed("subject", "is required");
  return required(p.subject.type, "subject.type");
}
