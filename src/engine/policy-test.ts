import { isMap, isSeq, LineCounter, type Node, parseAllDocuments, type YAMLMap } from "yaml";
import { isScope } from "../domain/scopes.js";
import { isTier, type Tier } from "../domain/tiers.js";
import { API_VERSION, fail, kindOf, type Place, policyError } from "./document.js";
import { type CompiledRevision, decideWith } from "./engine.js";
import type { AuthzQuery } from "./types.js";

/** One case of a PolicyTest suite: a query and what it must get. */
export interface PolicyTestCase {
  readonly name: string;
  readonly query: AuthzQuery;
  readonly expect: "allow" | "deny";
  /** When set, the rule (`policy/rule`) that must decide. */
  readonly rule?: string | undefined;
  /** When set, the reason code the decision must carry. */
  readonly reason?: string | undefined;
  /** The time conditions see, as an ISO date; default: when the suite runs. */
  readonly nowMs?: number | undefined;
}

export interface PolicyTestSuite {
  readonly name: string;
  readonly file: string;
  readonly cases: readonly PolicyTestCase[];
}

export interface TestFailure {
  readonly suite: string;
  readonly case: string;
  readonly expected: string;
  readonly actual: string;
  readonly rule: string;
  readonly reason: string;
}

export interface TestReport {
  readonly passed: number;
  readonly failed: number;
  readonly failures: readonly TestFailure[];
}

const CASE_FIELDS = new Set([
  "name",
  "subject",
  "scope",
  "resource",
  "context",
  "expect",
  "rule",
  "reason",
  "now",
]);
const SUBJECT_FIELDS = new Set(["id", "tier", "roles", "scopes", "tags", "attr", "grants"]);

function obj(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function strings(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.every((x) => typeof x === "string") ? v : undefined;
}

function parseCase(place: Place, node: unknown, suite: string): PolicyTestCase {
  if (!isMap(node)) fail(place, node as Node, "a case must be a mapping");
  const raw = node.toJSON() as Record<string, unknown>;
  const name = typeof raw.name === "string" && raw.name ? raw.name : fail(place, node, "a case needs a name");
  const at = (key: string) => (node.get(key, true) as Node | undefined) ?? node;
  for (const key of Object.keys(raw))
    if (!CASE_FIELDS.has(key)) fail(place, at(key), `unknown field "${key}" in case "${name}"`, suite);
  if (!isMap(node.get("subject", true)))
    fail(place, at("subject"), `case "${name}" needs a subject mapping`, suite);
  const s = obj(raw.subject);
  for (const key of Object.keys(s))
    if (!SUBJECT_FIELDS.has(key)) fail(place, at("subject"), `unknown subject field "${key}"`, suite);
  const tier = s.tier ?? "unverified";
  if (!isTier(tier)) fail(place, at("subject"), `unknown tier "${String(tier)}" in case "${name}"`, suite);
  const roles = s.roles === undefined ? [] : strings(s.roles);
  const scopes = s.scopes === undefined ? undefined : strings(s.scopes);
  const tags = s.tags === undefined ? [] : strings(s.tags);
  if (!roles || !tags || (s.scopes !== undefined && !scopes))
    fail(place, at("subject"), "roles, scopes and tags are lists of strings", suite);
  if (typeof raw.scope !== "string" || !isScope(raw.scope))
    fail(place, at("scope"), `case "${name}" needs a scope like domain:verb`, suite);
  if (raw.expect !== "allow" && raw.expect !== "deny")
    fail(place, at("expect"), `case "${name}": expect must be allow or deny`, suite);
  const r = raw.resource === undefined ? undefined : obj(raw.resource);
  if (r && typeof r.kind !== "string")
    fail(place, at("resource"), `case "${name}": resource needs a kind`, suite);
  let nowMs: number | undefined;
  if (raw.now !== undefined) {
    nowMs = Date.parse(String(raw.now));
    if (Number.isNaN(nowMs)) fail(place, at("now"), `case "${name}": now must be an ISO date`, suite);
  }
  return {
    name,
    expect: raw.expect,
    rule: typeof raw.rule === "string" ? raw.rule : undefined,
    reason: typeof raw.reason === "string" ? raw.reason : undefined,
    nowMs,
    query: {
      subject: {
        id: String(s.id ?? ""),
        tier: tier as Tier,
        roles,
        scopes,
        tags,
        attr: obj(s.attr),
        grants: obj(s.grants),
      },
      scope: raw.scope,
      resource: r && { kind: String(r.kind), id: String(r.id ?? ""), attr: obj(r.attr) },
      context: obj(raw.context),
    },
  };
}

function parseSuite(place: Place, doc: YAMLMap): PolicyTestSuite {
  const raw = doc.toJSON() as Record<string, unknown>;
  if (raw.apiVersion !== API_VERSION) fail(place, doc, `apiVersion must be ${API_VERSION}`);
  const name = obj(raw.metadata).name;
  if (typeof name !== "string" || !name) fail(place, doc, "metadata.name is required");
  const cases = doc.getIn(["spec", "cases"], true);
  if (!isSeq(cases)) fail(place, doc, "spec.cases must be a list", name);
  return { name, file: place.file, cases: cases.items.map((c) => parseCase(place, c, name)) };
}

/** Parses the `kind: PolicyTest` documents of a YAML text (Policy documents are skipped). */
export function parsePolicyTests(text: string, file = "<input>"): PolicyTestSuite[] {
  const lines = new LineCounter();
  const place = { file, lines };
  const out: PolicyTestSuite[] = [];
  for (const doc of parseAllDocuments(text, { lineCounter: lines, uniqueKeys: true })) {
    const err = doc.errors[0];
    if (err) {
      const pos = err.linePos?.[0];
      throw policyError(
        file,
        pos && { line: pos.line, column: pos.col },
        err.message.split("\n")[0] ?? "bad YAML",
      );
    }
    if (doc.contents === null || kindOf(doc.contents) === "Policy") continue;
    if (!isMap(doc.contents) || kindOf(doc.contents) !== "PolicyTest")
      fail(place, doc.contents, "kind must be Policy or PolicyTest");
    out.push(parseSuite(place, doc.contents));
  }
  return out;
}

/** Runs suites against a compiled revision. Pure: nothing is applied or stored. */
export function runPolicyTests(
  rev: CompiledRevision,
  suites: readonly PolicyTestSuite[],
  orgId: string,
  nowMs: number,
): TestReport {
  const failures: TestFailure[] = [];
  let passed = 0;
  for (const suite of suites) {
    for (const c of suite.cases) {
      const d = decideWith(rev, orgId, c.query, c.nowMs ?? nowMs);
      const actual = d.allow ? "allow" : "deny";
      const ok =
        actual === c.expect &&
        (c.rule === undefined || c.rule === d.rule) &&
        (c.reason === undefined || c.reason === d.reason);
      if (ok) passed++;
      else {
        const expected = [c.expect, c.rule && `by ${c.rule}`, c.reason && `(${c.reason})`]
          .filter(Boolean)
          .join(" ");
        failures.push({ suite: suite.name, case: c.name, expected, actual, rule: d.rule, reason: d.reason });
      }
    }
  }
  return { passed, failed: failures.length, failures };
}
