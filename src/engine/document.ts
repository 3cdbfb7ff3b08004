import jsyaml from "js-yaml";
import { isMap, isPair, isScalar, LineCounter, type Node, parseAllDocuments } from "yaml";
import { type ErrorReason, TesseraError } from "../domain/errors.js";
import { isObject } from "../domain/json.js";
import { LIMITS } from "../domain/limits.js";
import { DEFAULT_ROLES, isRoleName } from "../domain/roles.js";
import { isScopePattern } from "../domain/scopes.js";
import { isTier } from "../domain/tiers.js";
import { ConditionTooComplex, checkCondition } from "./condition.js";
import { parseRouteMapSpec } from "./routemap.js";
import type { DocumentKind, PolicyDocument, Position, RoleSpec, RuleSpec } from "./types.js";

export const API_VERSION = "tessera.dev/v1";
const NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const RULE_FIELDS = new Set([
  ...["name", "scopes", "resources", "effect", "minTier", "roles", "condition"],
  "onConditionError",
]);
const MAX_CONDITION = LIMITS.conditionBytes;
/** The kinds a policy set stores; PolicyTest documents are not stored. */
export const DOCUMENT_KINDS: ReadonlySet<unknown> = new Set<DocumentKind>(["Policy", "RouteMap"]);

/** Where a problem is inside one document: a path of keys, and whether the key itself (not its value) is meant. */
export interface Loc {
  readonly path: readonly (string | number)[];
  readonly key?: boolean;
}

/** What a document is refused for: invalid, or over the evaluation limits. */
type PolicyReason = Extract<ErrorReason, "POLICY_INVALID" | "POLICY_TOO_COMPLEX">;

/** A validation failure before it is given a line and column. */
export class Invalid extends Error {
  constructor(
    message: string,
    readonly loc: Loc,
    readonly rule?: string,
    readonly reason: PolicyReason = "POLICY_INVALID",
  ) {
    super(message);
  }
}

/** A POLICY_INVALID (or POLICY_TOO_COMPLEX) error naming file, rule, line and column. */
export function policyError(
  file: string,
  pos: Position | undefined,
  message: string,
  rule?: string,
  reason: PolicyReason = "POLICY_INVALID",
): TesseraError {
  const details: Record<string, string> = { file };
  if (rule) details.rule = rule;
  let where = file;
  if (pos) {
    details.line = String(pos.line);
    details.column = String(pos.column);
    where += `:${pos.line}:${pos.column}`;
  }
  return new TesseraError(reason, `${where}: ${rule ? `rule "${rule}": ` : ""}${message}`, details);
}

/**
 * The line and column of a location in document `index` of `text`. Only called on the way
 * to an error: it re-parses with the position-keeping YAML parser, which is ten times slower.
 */
export function locate(text: string, index: number, loc: Loc): Position | undefined {
  const lines = new LineCounter();
  const doc = parseAllDocuments(text, { lineCounter: lines })[index];
  if (!doc || !("contents" in doc)) return undefined;
  let node: unknown = doc.contents;
  if (loc.path.length > 0) {
    const parent = loc.path.length > 1 ? doc.getIn(loc.path.slice(0, -1), true) : doc.contents;
    const last = loc.path[loc.path.length - 1];
    const pair = isMap(parent)
      ? parent.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === last)
      : undefined;
    node = loc.key && pair ? pair.key : doc.getIn(loc.path, true);
  }
  const range = (node as Node | undefined)?.range;
  if (!range) return undefined;
  const p = lines.linePos(range[0]);
  return { line: p.line, column: p.col };
}

function stringList(v: unknown, at: Loc, what: string, rule?: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string"))
    throw new Invalid(`${what} must be a list of strings`, at, rule);
  return v as string[];
}

function parseRule(
  raw: unknown,
  at: readonly (string | number)[],
  names: Set<string>,
  knownRoles: ReadonlySet<string>,
  checkConditions: boolean,
): RuleSpec {
  const here = { path: at };
  const field = (key: string): Loc => ({ path: [...at, key] });
  if (!isObject(raw)) throw new Invalid("a rule must be a mapping", here);
  const name = raw.name;
  if (typeof name !== "string" || !NAME.test(name))
    throw new Invalid("rule needs a name of [a-z0-9_.-]", here);
  for (const key of Object.keys(raw))
    if (!RULE_FIELDS.has(key)) throw new Invalid(`unknown field "${key}"`, field(key), name);
  if (names.has(name)) throw new Invalid("duplicate rule name", here, name);
  names.add(name);
  const scopes = stringList(raw.scopes, field("scopes"), "scopes", name);
  if (!scopes || scopes.length === 0) throw new Invalid("scopes must list at least one scope", here, name);
  for (const s of scopes)
    if (!isScopePattern(s)) throw new Invalid(`bad scope "${s}"`, field("scopes"), name);
  const resources = stringList(raw.resources, field("resources"), "resources", name);
  for (const r of resources ?? [])
    if (!NAME.test(r)) throw new Invalid(`bad resource kind "${r}"`, field("resources"), name);
  const effect = raw.effect;
  if (effect !== "allow" && effect !== "deny") {
    throw new Invalid("effect must be allow or deny", effect === undefined ? here : field("effect"), name);
  }
  const minTier = raw.minTier;
  if (minTier !== undefined && !isTier(minTier))
    throw new Invalid(`unknown tier "${String(minTier)}"`, field("minTier"), name);
  const roles = stringList(raw.roles, field("roles"), "roles", name);
  for (const r of roles ?? [])
    if (!knownRoles.has(r)) throw new Invalid(`unknown role "${r}"`, field("roles"), name);
  const condition = raw.condition;
  if (condition !== undefined) {
    if (typeof condition !== "string" || condition.trim() === "")
      throw new Invalid("condition must be a CEL string", field("condition"), name);
    if (condition.length > MAX_CONDITION)
      throw new Invalid(`condition is longer than ${MAX_CONDITION} characters`, field("condition"), name);
    try {
      if (checkConditions) checkCondition(condition);
    } catch (err) {
      const reason = err instanceof ConditionTooComplex ? "POLICY_TOO_COMPLEX" : "POLICY_INVALID";
      throw new Invalid((err as Error).message, field("condition"), name, reason);
    }
  }
  const onConditionError = raw.onConditionError;
  if (onConditionError !== undefined) {
    if (onConditionError !== "deny" && onConditionError !== "skip")
      throw new Invalid("onConditionError must be deny or skip", field("onConditionError"), name);
    if (condition === undefined)
      throw new Invalid("onConditionError needs a condition", field("onConditionError"), name);
  }
  return { name, scopes, resources, effect, minTier, roles, condition, onConditionError };
}

function parseRoles(raw: unknown): Map<string, RoleSpec> {
  const out = new Map<string, RoleSpec>();
  if (raw === undefined) return out;
  if (!isObject(raw))
    throw new Invalid("spec.roles must be a mapping of role → { inherits: [...] }", {
      path: ["spec", "roles"],
    });
  for (const [name, value] of Object.entries(raw)) {
    const keyLoc = { path: ["spec", "roles", name], key: true };
    if (!isRoleName(name)) throw new Invalid(`bad role name "${name}"`, keyLoc);
    let inherits: string[] = [];
    if (value !== null && value !== undefined) {
      if (!isObject(value)) throw new Invalid(`role "${name}" must be a mapping`, keyLoc);
      for (const key of Object.keys(value)) {
        if (key !== "inherits")
          throw new Invalid(`unknown field "${key}" in role "${name}"`, {
            path: ["spec", "roles", name, key],
          });
      }
      inherits = stringList(value.inherits, { path: ["spec", "roles", name, "inherits"] }, "inherits") ?? [];
    }
    out.set(name, { inherits });
  }
  return out;
}

function parseOne(
  raw: unknown,
  knownRoles: ReadonlySet<string>,
  checkConditions: boolean,
): Omit<PolicyDocument, "file"> {
  const root = { path: [] };
  if (!isObject(raw)) throw new Invalid("a document must be a mapping", root);
  for (const key of Object.keys(raw)) {
    if (!["apiVersion", "kind", "metadata", "spec"].includes(key))
      throw new Invalid(`unknown field "${key}"`, { path: [key] });
  }
  if (raw.apiVersion !== API_VERSION) throw new Invalid(`apiVersion must be ${API_VERSION}`, root);
  if (!DOCUMENT_KINDS.has(raw.kind)) throw new Invalid("kind must be Policy or RouteMap", root);
  if (isObject(raw.metadata)) {
    for (const key of Object.keys(raw.metadata)) {
      if (key !== "name")
        throw new Invalid(`unknown field "metadata.${key}"`, { path: ["metadata", key], key: true });
    }
  }
  const name = isObject(raw.metadata) ? raw.metadata.name : undefined;
  if (typeof name !== "string" || !NAME.test(name))
    throw new Invalid("metadata.name of [a-z0-9_.-] is required", root);
  const spec = raw.spec;
  if (!isObject(spec)) throw new Invalid("spec must be a mapping", root);
  if (raw.kind === "RouteMap")
    return { name, kind: "RouteMap", rules: [], routeMap: parseRouteMapSpec(spec, Invalid) };
  for (const key of Object.keys(spec)) {
    if (key !== "rules" && key !== "roles")
      throw new Invalid(`unknown field "spec.${key}"`, { path: ["spec", key], key: true });
  }
  const roles = parseRoles(spec.roles);
  if (!Array.isArray(spec.rules)) throw new Invalid("spec.rules must be a list", { path: ["spec"] });
  const names = new Set<string>();
  const known = new Set([...knownRoles, ...roles.keys()]);
  return {
    name,
    roles,
    rules: spec.rules.map((r, i) => parseRule(r, ["spec", "rules", i], names, known, checkConditions)),
  };
}

/** Loads every document of a text as plain data; a YAML error (including a duplicate key) is POLICY_INVALID. */
export function loadAll(text: string, file: string): unknown[] {
  try {
    return jsyaml.loadAll(text, undefined, { schema: jsyaml.CORE_SCHEMA });
  } catch (err) {
    // Report the error where the position-keeping parser puts it, with js-yaml's as a fallback.
    const first = parseAllDocuments(text, { uniqueKeys: true, lineCounter: new LineCounter() })
      .flatMap((d) => ("errors" in d ? d.errors : []))
      .at(0);
    const mark = (err as { mark?: { line: number; column: number } }).mark;
    const pos = first?.linePos?.[0]
      ? { line: first.linePos[0].line, column: first.linePos[0].col }
      : mark && { line: mark.line + 1, column: mark.column + 1 };
    const message = first?.message.split("\n")[0] ?? (err as { reason?: string }).reason ?? "bad YAML";
    throw policyError(file, pos, message);
  }
}

/** The custom role names a YAML text defines, without validating anything else. */
function rolesDefinedIn(docs: readonly unknown[]): string[] {
  return docs.flatMap((d) =>
    isObject(d) && isObject(d.spec) && isObject(d.spec.roles) ? Object.keys(d.spec.roles) : [],
  );
}

export interface ParseOptions {
  /** Roles defined elsewhere (other stored documents of the org), besides the defaults. */
  readonly knownRoles?: Iterable<string> | undefined;
  /** Skip documents of another kind (e.g. PolicyTest) instead of rejecting them. */
  readonly skipOtherKinds?: boolean | undefined;
  /** Compile every CEL condition to check it (default). Off only for documents validated when stored. */
  readonly checkConditions?: boolean | undefined;
}

/**
 * Parses YAML holding one or more policy documents. Any error rejects the whole text
 * with a POLICY_INVALID error naming the file, rule, line and column.
 */
export function parsePolicyDocuments(
  text: string,
  file = "<input>",
  opts: ParseOptions = {},
): PolicyDocument[] {
  const docs = loadAll(text, file);
  const known = new Set([...DEFAULT_ROLES.keys(), ...(opts.knownRoles ?? []), ...rolesDefinedIn(docs)]);
  const out: PolicyDocument[] = [];
  docs.forEach((raw, index) => {
    if (raw === null || raw === undefined) return;
    if (opts.skipOtherKinds && !(isObject(raw) && DOCUMENT_KINDS.has(raw.kind))) return;
    try {
      const doc = parseOne(raw, known, opts.checkConditions ?? true);
      const rulePosition = (i: number) => locate(text, index, { path: ["spec", "rules", i] });
      const rolePosition = (name: string) =>
        locate(text, index, { path: ["spec", "roles", name], key: true });
      const routePosition = (i: number) => locate(text, index, { path: ["spec", "routes", i] });
      out.push({ ...doc, file, rulePosition, rolePosition, ...(doc.routeMap ? { routePosition } : {}) });
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      throw policyError(file, locate(text, index, err.loc), err.message, err.rule, err.reason);
    }
  });
  if (out.length === 0 && !opts.skipOtherKinds) throw policyError(file, undefined, "no document found");
  return out;
}

/**
 * Parses several texts that make up one org's policy set, where a rule in one may use a
 * role another defines. Any error rejects the whole set.
 */
export function parseDocumentSet(
  texts: readonly { text: string; file: string }[],
  opts: Omit<ParseOptions, "knownRoles"> = {},
): PolicyDocument[] {
  const knownRoles = texts.flatMap((t) => rolesDefinedIn(loadAll(t.text, t.file)));
  return texts.flatMap((t) => parsePolicyDocuments(t.text, t.file, { knownRoles, ...opts }));
}

/** Each non-empty document of a YAML text as its own source text (comments inside kept), in order. */
export function splitDocuments(text: string): string[] {
  // One document (the common case) is the text itself; only several need the CST parser,
  // which costs ten times js-yaml in time and far more in memory on a large policy.
  const docs = jsyaml
    .loadAll(text, undefined, { schema: jsyaml.CORE_SCHEMA })
    .filter((d) => d !== null && d !== undefined);
  if (docs.length === 1 && !/^---/m.test(text)) return [`${text.trimEnd()}\n`];
  return parseAllDocuments(text)
    .filter((d) => d.contents !== null && !(isScalar(d.contents) && d.contents.value === null))
    .map((d) => `${text.slice(d.range[0], d.range[2]).trimEnd()}\n`);
}

/** The `kind` of a parsed document's mapping, if it has one. */
export function kindOf(contents: unknown): unknown {
  return isMap(contents) ? contents.get("kind") : undefined;
}
