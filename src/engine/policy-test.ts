import { isScope } from "../domain/scopes.js";
import { isTier, type Tier } from "../domain/tiers.js";
import { API_VERSION, Invalid, isObject, type Loc, loadAll, locate, policyError } from "./document.js";
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
  /** The time conditions see; default: when the suite runs. */
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
  return isObject(v) ? v : {};
}

function strings(v: unknown, at: Loc, suite: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string"))
    throw new Invalid("roles, scopes and tags are lists of strings", at, suite);
  return v;
}

function parseCase(raw: unknown, at: readonly (string | number)[], suite: string): PolicyTestCase {
  const loc = (key?: string): Loc => ({ path: key ? [...at, key] : at });
  if (!isObject(raw)) throw new Invalid("a case must be a mapping", loc(), suite);
  const name = raw.name;
  if (typeof name !== "string" || !name) throw new Invalid("a case needs a name", loc(), suite);
  for (const key of Object.keys(raw))
    if (!CASE_FIELDS.has(key)) throw new Invalid(`unknown field "${key}" in case "${name}"`, loc(key), suite);
  const s = raw.subject;
  if (!isObject(s))
    throw new Invalid(
      `case "${name}" needs a subject mapping`,
      loc(raw.subject === undefined ? undefined : "subject"),
      suite,
    );
  for (const key of Object.keys(s))
    if (!SUBJECT_FIELDS.has(key)) throw new Invalid(`unknown subject field "${key}"`, loc("subject"), suite);
  const tier = s.tier ?? "unverified";
  if (!isTier(tier))
    throw new Invalid(`unknown tier "${String(tier)}" in case "${name}"`, loc("subject"), suite);
  if (typeof raw.scope !== "string" || !isScope(raw.scope))
    throw new Invalid(`case "${name}" needs a scope like domain:verb`, loc("scope"), suite);
  const expect = raw.expect;
  if (expect !== "allow" && expect !== "deny")
    throw new Invalid(`case "${name}": expect must be allow or deny`, loc("expect"), suite);
  const r = raw.resource === undefined ? undefined : obj(raw.resource);
  if (r && typeof r.kind !== "string")
    throw new Invalid(`case "${name}": resource needs a kind`, loc("resource"), suite);
  let nowMs: number | undefined;
  if (raw.now !== undefined) {
    nowMs = Date.parse(String(raw.now));
    if (Number.isNaN(nowMs)) throw new Invalid(`case "${name}": now must be an ISO date`, loc("now"), suite);
  }
  const subjectLoc = loc("subject");
  return {
    name,
    expect,
    rule: typeof raw.rule === "string" ? raw.rule : undefined,
    reason: typeof raw.reason === "string" ? raw.reason : undefined,
    nowMs,
    query: {
      subject: {
        id: String(s.id ?? ""),
        tier: tier as Tier,
        roles: s.roles === undefined ? [] : strings(s.roles, subjectLoc, suite),
        scopes: s.scopes === undefined ? undefined : strings(s.scopes, subjectLoc, suite),
        tags: s.tags === undefined ? [] : strings(s.tags, subjectLoc, suite),
        attr: obj(s.attr),
        grants: obj(s.grants),
      },
      scope: raw.scope,
      resource: r && { kind: String(r.kind), id: String(r.id ?? ""), attr: obj(r.attr) },
      context: obj(raw.context),
    },
  };
}

function parseSuite(raw: Record<string, unknown>, file: string): PolicyTestSuite {
  const root = { path: [] };
  if (raw.apiVersion !== API_VERSION) throw new Invalid(`apiVersion must be ${API_VERSION}`, root);
  const name = obj(raw.metadata).name;
  if (typeof name !== "string" || !name) throw new Invalid("metadata.name is required", root);
  const cases = obj(raw.spec).cases;
  if (!Array.isArray(cases)) throw new Invalid("spec.cases must be a list", root, name);
  return { name, file, cases: cases.map((c, i) => parseCase(c, ["spec", "cases", i], name)) };
}

/** Parses the `kind: PolicyTest` documents of a YAML text (Policy documents are skipped). */
export function parsePolicyTests(text: string, file = "<input>"): PolicyTestSuite[] {
  const out: PolicyTestSuite[] = [];
  loadAll(text, file).forEach((raw, index) => {
    if (raw === null || raw === undefined || (isObject(raw) && raw.kind === "Policy")) return;
    try {
      if (!isObject(raw) || raw.kind !== "PolicyTest")
        throw new Invalid("kind must be Policy or PolicyTest", { path: [] });
      out.push(parseSuite(raw, file));
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      throw policyError(file, locate(text, index, err.loc), err.message, err.rule);
    }
  });
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
