import { isMap, isSeq, LineCounter, type Node, parseAllDocuments, type YAMLMap } from "yaml";
import { TesseraError } from "../domain/errors.js";
import { DEFAULT_ROLES } from "../domain/roles.js";
import { isScopePattern } from "../domain/scopes.js";
import { isTier } from "../domain/tiers.js";
import type { Effect, PolicyDocument, RuleSpec } from "./types.js";

export const API_VERSION = "tessera.dev/v1";
const NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const RESOURCE_KIND = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const RULE_FIELDS = new Set(["name", "scopes", "resources", "effect", "minTier", "roles"]);

/** Where a policy error is, so an operator can fix it. */
interface Place {
  readonly file: string;
  readonly lines: LineCounter;
}

function fail(place: Place, node: Node | null | undefined, message: string, rule?: string): never {
  const details: Record<string, string> = { file: place.file };
  if (rule) details.rule = rule;
  let where = place.file;
  if (node?.range) {
    const pos = place.lines.linePos(node.range[0]);
    details.line = String(pos.line);
    details.column = String(pos.col);
    where += `:${pos.line}:${pos.col}`;
  }
  throw new TesseraError("POLICY_INVALID", `${where}: ${rule ? `rule "${rule}": ` : ""}${message}`, details);
}

function stringList(place: Place, map: YAMLMap, key: string, rule: string): string[] | undefined {
  const node = map.get(key, true) as Node | undefined;
  if (node === undefined) return undefined;
  const value = map.toJSON()[key] as unknown;
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    fail(place, node, `${key} must be a list of strings`, rule);
  }
  return value as string[];
}

function parseRule(place: Place, node: unknown, names: Set<string>): RuleSpec {
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
    if (!DEFAULT_ROLES.has(r)) fail(place, node.get("roles", true) as Node, `unknown role "${r}"`, name);
  }
  return { name, scopes, resources, effect: effect as Effect, minTier, roles };
}

function parseOne(place: Place, doc: YAMLMap): PolicyDocument {
  const raw = doc.toJSON() as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!["apiVersion", "kind", "metadata", "spec"].includes(key)) {
      fail(place, doc.get(key, true) as Node, `unknown field "${key}"`);
    }
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
    if (key !== "rules") fail(place, pair.key as Node, `unknown field "spec.${key}"`);
  }
  const rulesNode = spec.get("rules", true);
  if (!isSeq(rulesNode)) fail(place, spec, "spec.rules must be a list");
  const names = new Set<string>();
  return { name, rules: rulesNode.items.map((r) => parseRule(place, r, names)) };
}

/**
 * Parses YAML holding one or more policy documents. Any error rejects the whole text
 * with a POLICY_INVALID error naming the file, rule, line and column.
 */
export function parsePolicyDocuments(text: string, file = "<input>"): PolicyDocument[] {
  const lines = new LineCounter();
  const place = { file, lines };
  const docs = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: true });
  if (!Array.isArray(docs)) fail(place, undefined, "no document found");
  const out: PolicyDocument[] = [];
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) {
      const [line, col] = [err.linePos?.[0]?.line ?? 0, err.linePos?.[0]?.col ?? 0];
      throw new TesseraError("POLICY_INVALID", `${file}:${line}:${col}: ${err.message.split("\n")[0]}`, {
        file,
        line: String(line),
        column: String(col),
      });
    }
    if (doc.contents === null) continue;
    if (!isMap(doc.contents)) fail(place, doc.contents, "a document must be a mapping");
    out.push(parseOne(place, doc.contents));
  }
  if (out.length === 0) fail(place, undefined, "no document found");
  return out;
}
