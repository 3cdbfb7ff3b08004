import { isMap, isSeq, LineCounter, type Node, parseAllDocuments, type YAMLMap } from "yaml";
import { TesseraError } from "../domain/errors.js";
import { DEFAULT_ROLES, isRoleName } from "../domain/roles.js";
import { isScopePattern } from "../domain/scopes.js";
import { isTier } from "../domain/tiers.js";
import { compileCondition } from "./condition.js";
import type { Effect, PolicyDocument, Position, RoleSpec, RuleSpec } from "./types.js";

export const API_VERSION = "tessera.dev/v1";
const NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const RESOURCE_KIND = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const RULE_FIELDS = new Set(["name", "scopes", "resources", "effect", "minTier", "roles", "condition"]);
const MAX_CONDITION = 4096;

/** Where in a text a document is, so every error can name file, rule, line and column. */
export interface Place {
  readonly file: string;
  readonly lines: LineCounter;
}

export function positionOf(place: Place, node: Node | null | undefined): Position | undefined {
  if (!node?.range) return undefined;
  const pos = place.lines.linePos(node.range[0]);
  return { line: pos.line, column: pos.col };
}

/** A POLICY_INVALID error naming file, rule, line and column. */
export function policyError(
  file: string,
  pos: Position | undefined,
  message: string,
  rule?: string,
): TesseraError {
  const details: Record<string, string> = { file };
  if (rule) details.rule = rule;
  let where = file;
  if (pos) {
    details.line = String(pos.line);
    details.column = String(pos.column);
    where += `:${pos.line}:${pos.column}`;
  }
  return new TesseraError("POLICY_INVALID", `${where}: ${rule ? `rule "${rule}": ` : ""}${message}`, details);
}

export function fail(place: Place, node: Node | null | undefined, message: string, rule?: string): never {
  throw policyError(place.file, positionOf(place, node), message, rule);
}

function stringList(place: Place, map: YAMLMap, key: string, rule?: string): string[] | undefined {
  const node = map.get(key, true) as Node | undefined;
  if (node === undefined) return undefined;
  const value = (map.toJSON() as Record<string, unknown>)[key];
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    fail(place, node, `${key} must be a list of strings`, rule);
  }
  return value as string[];
}

function parseRule(
  place: Place,
  node: unknown,
  names: Set<string>,
  knownRoles: ReadonlySet<string>,
): RuleSpec {
  if (!isMap(node)) fail(place, node as Node, "a rule must be a mapping");
  const raw = node.toJSON() as Record<string, unknown>;
  const name = raw.name;
  if (typeof name !== "string" || !NAME.test(name)) fail(place, node, "rule needs a name of [a-z0-9_.-]");
  for (const key of Object.keys(raw)) {
    if (!RULE_FIELDS.has(key)) fail(place, node.get(key, true) as Node, `unknown field "${key}"`, name);
  }
  if (names.has(name)) fail(place, node, "duplicate rule name", name);
  names.add(name);
  const scopes = stringList(place, node, "scopes", name);
  if (!scopes || scopes.length === 0) fail(place, node, "scopes must list at least one scope", name);
  for (const s of scopes)
    if (!isScopePattern(s)) fail(place, node.get("scopes", true) as Node, `bad scope "${s}"`, name);
  const resources = stringList(place, node, "resources", name);
  for (const r of resources ?? []) {
    if (!RESOURCE_KIND.test(r))
      fail(place, node.get("resources", true) as Node, `bad resource kind "${r}"`, name);
  }
  const effect = raw.effect;
  if (effect !== "allow" && effect !== "deny") {
    fail(place, (node.get("effect", true) as Node) ?? node, "effect must be allow or deny", name);
  }
  const minTier = raw.minTier;
  if (minTier !== undefined && !isTier(minTier)) {
    fail(place, node.get("minTier", true) as Node, `unknown tier "${String(minTier)}"`, name);
  }
  const roles = stringList(place, node, "roles", name);
  for (const r of roles ?? []) {
    if (!knownRoles.has(r)) fail(place, node.get("roles", true) as Node, `unknown role "${r}"`, name);
  }
  const condition = raw.condition;
  if (condition !== undefined) {
    const at = node.get("condition", true) as Node;
    if (typeof condition !== "string" || condition.trim() === "")
      fail(place, at, "condition must be a CEL string", name);
    if (condition.length > MAX_CONDITION)
      fail(place, at, `condition is longer than ${MAX_CONDITION} characters`, name);
    try {
      compileCondition(condition);
    } catch (err) {
      fail(place, at, (err as Error).message, name);
    }
  }
  return {
    name,
    scopes,
    resources,
    effect: effect as Effect,
    minTier,
    roles,
    condition,
    position: positionOf(place, node),
  };
}

function parseRoles(place: Place, node: unknown): Map<string, RoleSpec> {
  const out = new Map<string, RoleSpec>();
  if (node === undefined) return out;
  if (!isMap(node)) fail(place, node as Node, "spec.roles must be a mapping of role → { inherits: [...] }");
  for (const pair of node.items) {
    const keyNode = pair.key as Node;
    const name = String((pair.key as { value?: unknown })?.value ?? pair.key);
    if (!isRoleName(name)) fail(place, keyNode, `bad role name "${name}"`);
    const value = pair.value;
    let inherits: string[] = [];
    if (value !== null && value !== undefined && !(isMap(value) && value.items.length === 0)) {
      if (!isMap(value)) fail(place, keyNode, `role "${name}" must be a mapping`);
      for (const key of Object.keys(value.toJSON() as object)) {
        if (key !== "inherits")
          fail(place, value.get(key, true) as Node, `unknown field "${key}" in role "${name}"`);
      }
      inherits = stringList(place, value, "inherits") ?? [];
    }
    out.set(name, { inherits, position: positionOf(place, keyNode) });
  }
  return out;
}

function parseOne(place: Place, doc: YAMLMap, knownRoles: ReadonlySet<string>): PolicyDocument {
  const raw = doc.toJSON() as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!["apiVersion", "kind", "metadata", "spec"].includes(key))
      fail(place, doc.get(key, true) as Node, `unknown field "${key}"`);
  }
  if (raw.apiVersion !== API_VERSION) fail(place, doc, `apiVersion must be ${API_VERSION}`);
  if (raw.kind !== "Policy") fail(place, doc, "kind must be Policy");
  const meta = raw.metadata as Record<string, unknown> | undefined;
  const name = meta?.name;
  if (typeof name !== "string" || !NAME.test(name))
    fail(place, doc, "metadata.name of [a-z0-9_.-] is required");
  const spec = doc.get("spec", true);
  if (!isMap(spec)) fail(place, doc, "spec must be a mapping");
  for (const pair of spec.items) {
    const key = String((pair.key as { value?: unknown })?.value ?? pair.key);
    if (key !== "rules" && key !== "roles") fail(place, pair.key as Node, `unknown field "spec.${key}"`);
  }
  const roles = parseRoles(place, spec.get("roles", true));
  const rulesNode = spec.get("rules", true);
  if (!isSeq(rulesNode)) fail(place, spec, "spec.rules must be a list");
  const names = new Set<string>();
  const known = new Set([...knownRoles, ...roles.keys()]);
  return {
    name,
    file: place.file,
    roles,
    rules: rulesNode.items.map((r) => parseRule(place, r, names, known)),
  };
}

/** The custom role names a YAML text defines, without validating anything else. */
function rolesDefinedIn(text: string): string[] {
  return parseAllDocuments(text).flatMap((d) => {
    const roles = isMap(d.contents) ? (d.contents.getIn(["spec", "roles"], true) as unknown) : undefined;
    return isMap(roles) ? roles.items.map((p) => String((p.key as { value?: unknown })?.value ?? p.key)) : [];
  });
}

/**
 * Parses several texts that make up one org's policy set, where a rule in one may use a
 * role another defines. Any error rejects the whole set.
 */
export function parseDocumentSet(
  texts: readonly { text: string; file: string }[],
  opts: { skipOtherKinds?: boolean } = {},
): PolicyDocument[] {
  const knownRoles = texts.flatMap((t) => rolesDefinedIn(t.text));
  return texts.flatMap((t) => parsePolicyDocuments(t.text, t.file, { knownRoles, ...opts }));
}

export interface ParseOptions {
  /** Roles defined elsewhere (other stored documents of the org), besides the defaults. */
  readonly knownRoles?: Iterable<string> | undefined;
  /** Skip documents of another kind (e.g. PolicyTest) instead of rejecting them. */
  readonly skipOtherKinds?: boolean | undefined;
}

/** Each document of a YAML text as its own source text (comments kept), in order. */
export function splitDocuments(text: string): string[] {
  return parseAllDocuments(text)
    .filter((d) => d.contents !== null)
    .map((d) => `${text.slice(d.range[0], d.range[2]).trimEnd()}\n`);
}

/** The `kind` of a parsed document's mapping, if it has one. */
export function kindOf(contents: unknown): unknown {
  return isMap(contents) ? contents.get("kind") : undefined;
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
  const lines = new LineCounter();
  const place = { file, lines };
  const docs = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: true });
  if (!Array.isArray(docs)) fail(place, undefined, "no document found");
  const known = new Set([...DEFAULT_ROLES.keys(), ...(opts.knownRoles ?? []), ...rolesDefinedIn(text)]);
  const out: PolicyDocument[] = [];
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) {
      const pos = err.linePos?.[0];
      throw policyError(
        file,
        pos && { line: pos.line, column: pos.col },
        err.message.split("\n")[0] ?? "bad YAML",
      );
    }
    if (doc.contents === null) continue;
    if (!isMap(doc.contents)) fail(place, doc.contents, "a document must be a mapping");
    if (opts.skipOtherKinds && kindOf(doc.contents) !== "Policy") continue;
    out.push(parseOne(place, doc.contents, known));
  }
  if (out.length === 0 && !opts.skipOtherKinds) fail(place, undefined, "no document found");
  return out;
}
