import { isObject } from "../domain/json.js";
import { isScope } from "../domain/scopes.js";
import { isTier, type Tier } from "../domain/tiers.js";
import { API_VERSION, DOCUMENT_KINDS, Invalid, type Loc, loadAll, locate, policyError } from "./document.js";
import { type CompiledRevision, decideHttpWith, decideWith } from "./engine.js";
import type { HttpRequest } from "./routes.js";
import type { AuthzQuery, RuleTrace } from "./types.js";

/** One case of a PolicyTest suite: a query and what it must get. */
export interface PolicyTestCase {
  readonly name: string;
  /** With `http`, its scope and resource kind and id come from the route the request takes. */
  readonly query: AuthzQuery;
  /** An HTTP request to route through the RouteMaps, then decide (instead of a scope and resource). */
  readonly http?: HttpRequest | undefined;
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
  /** Every candidate rule and its outcome, as `explain` gives them: why the case failed. */
  readonly trace?: readonly RuleTrace[] | undefined;
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
  "http",
  "context",
  "expect",
  "rule",
  "reason",
  "now",
]);
const SUBJECT_FIELDS = new Set(["id", "tier", "roles", "scopes", "tags", "attr", "grants"]);
const RESOURCE_FIELDS = new Set(["kind", "id", "attr"]);
const HTTP_FIELDS = new Set(["method", "path", "host"]);
const REASONS = new Set([
  ...["ALLOWED_BY_RULE", "DENIED_BY_RULE", "NO_MATCHING_RULE", "SCOPE_NOT_GRANTED"],
  "NO_ROUTE",
]);

function obj(v: unknown): Record<string, unknown> {
  return isObject(v) ? v : {};
}

function strings(v: unknown, at: Loc, suite: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string"))
    throw new Invalid("roles, scopes and tags are lists of strings", at, suite);
  return v;
}

/** Refuses keys outside `allowed`: a typo would otherwise make a case test less than it says. */
function onlyFields(
  v: Record<string, unknown>,
  allowed: ReadonlySet<string>,
  at: Loc,
  what: string,
  suite: string,
): void {
  for (const key of Object.keys(v))
    if (!allowed.has(key)) throw new Invalid(`unknown field "${key}" in ${what}`, at, suite);
}

/** An optional mapping (attr, context, grants): absent is {}, anything but a mapping is refused. */
function mapping(v: unknown, at: Loc, what: string, suite: string): Record<string, unknown> {
  if (v === undefined) return {};
  if (!isObject(v)) throw new Invalid(`${what} must be a mapping`, at, suite);
  return v;
}

/** An optional string: absent is undefined, anything but a string is refused. */
function optionalString(v: unknown, at: Loc, what: string, suite: string): string | undefined {
  if (v !== undefined && typeof v !== "string") throw new Invalid(`${what} must be a string`, at, suite);
  return v;
}

function parseSubject(s: Record<string, unknown>, at: Loc, name: string, suite: string) {
  onlyFields(s, SUBJECT_FIELDS, at, "subject", suite);
  const tier = s.tier ?? "unverified";
  if (!isTier(tier)) throw new Invalid(`unknown tier "${String(tier)}" in case "${name}"`, at, suite);
  return {
    id: optionalString(s.id, at, "subject.id", suite) ?? "",
    tier: tier as Tier,
    roles: s.roles === undefined ? [] : strings(s.roles, at, suite),
    scopes: s.scopes === undefined ? undefined : strings(s.scopes, at, suite),
    tags: s.tags === undefined ? [] : strings(s.tags, at, suite),
    attr: mapping(s.attr, at, "subject.attr", suite),
    grants: mapping(s.grants, at, "subject.grants", suite),
  };
}

function parseResource(v: unknown, at: Loc, name: string, suite: string) {
  if (v === undefined) return undefined;
  const r = mapping(v, at, "resource", suite);
  onlyFields(r, RESOURCE_FIELDS, at, "resource", suite);
  if (typeof r.kind !== "string") throw new Invalid(`case "${name}": resource needs a kind`, at, suite);
  return {
    kind: r.kind,
    id: optionalString(r.id, at, "resource.id", suite) ?? "",
    attr: mapping(r.attr, at, "resource.attr", suite),
  };
}

function parseCase(raw: unknown, path: readonly (string | number)[], suite: string): PolicyTestCase {
  // A missing key has no position of its own: point at the case instead.
  const loc = (key?: string): Loc => ({
    path: key && isObject(raw) && raw[key] !== undefined ? [...path, key] : path,
  });
  if (!isObject(raw)) throw new Invalid("a case must be a mapping", loc(), suite);
  const name = raw.name;
  if (typeof name !== "string" || !name) throw new Invalid("a case needs a name", loc(), suite);
  for (const key of Object.keys(raw)) {
    if (!CASE_FIELDS.has(key)) throw new Invalid(`unknown field "${key}" in case "${name}"`, loc(key), suite);
  }
  if (!isObject(raw.subject))
    throw new Invalid(`case "${name}" needs a subject mapping`, loc("subject"), suite);
  const http = parseHttp(raw, loc, name, suite);
  if (!http && (typeof raw.scope !== "string" || !isScope(raw.scope))) {
    throw new Invalid(
      `case "${name}" needs a scope like domain:verb, or an http request`,
      loc("scope"),
      suite,
    );
  }
  const expect = raw.expect;
  if (expect !== "allow" && expect !== "deny")
    throw new Invalid(`case "${name}": expect must be allow or deny`, loc("expect"), suite);
  const reason = optionalString(raw.reason, loc("reason"), "reason", suite);
  if (reason !== undefined && !REASONS.has(reason))
    throw new Invalid(`unknown reason "${reason}"`, loc("reason"), suite);
  let nowMs: number | undefined;
  if (raw.now !== undefined) {
    nowMs = Date.parse(String(raw.now));
    if (Number.isNaN(nowMs)) throw new Invalid(`case "${name}": now must be an ISO date`, loc("now"), suite);
  }
  return {
    name,
    expect,
    rule: optionalString(raw.rule, loc("rule"), "rule", suite),
    reason,
    nowMs,
    http,
    query: {
      subject: parseSubject(raw.subject, loc("subject"), name, suite),
      scope: http ? "" : (raw.scope as string),
      resource: http
        ? { kind: "", id: "", attr: mapping(raw.resource, loc("resource"), "resource", suite).attr as never }
        : parseResource(raw.resource, loc("resource"), name, suite),
      context: mapping(raw.context, loc("context"), "context", suite),
    },
  };
}

/**
 * A case's `http` request, or undefined. With it, the case gives no scope, and its resource
 * only `attr` (the route names the kind and id).
 */
function parseHttp(
  raw: Record<string, unknown>,
  loc: (key?: string) => Loc,
  name: string,
  suite: string,
): HttpRequest | undefined {
  if (raw.http === undefined) return undefined;
  const h = mapping(raw.http, loc("http"), "http", suite);
  onlyFields(h, HTTP_FIELDS, loc("http"), "http", suite);
  if (typeof h.method !== "string" || typeof h.path !== "string")
    throw new Invalid(`case "${name}": http needs a method and a path`, loc("http"), suite);
  if (raw.scope !== undefined)
    throw new Invalid(`case "${name}": give a scope or an http request, not both`, loc("scope"), suite);
  const r = mapping(raw.resource, loc("resource"), "resource", suite);
  onlyFields(r, new Set(["attr"]), loc("resource"), "resource (with http, only attr)", suite);
  mapping(r.attr, loc("resource"), "resource.attr", suite);
  return { method: h.method, path: h.path, host: optionalString(h.host, loc("http"), "http.host", suite) };
}

function parseSuite(raw: Record<string, unknown>, file: string): PolicyTestSuite {
  const root = { path: [] };
  onlyFields(raw, new Set(["apiVersion", "kind", "metadata", "spec"]), root, "a PolicyTest", "");
  if (raw.apiVersion !== API_VERSION) throw new Invalid(`apiVersion must be ${API_VERSION}`, root);
  const name = obj(raw.metadata).name;
  if (typeof name !== "string" || !name) throw new Invalid("metadata.name is required", root);
  onlyFields(obj(raw.metadata), new Set(["name"]), { path: ["metadata"] }, "metadata", name);
  onlyFields(obj(raw.spec), new Set(["cases"]), { path: ["spec"] }, "spec", name);
  const cases = obj(raw.spec).cases;
  if (!Array.isArray(cases)) throw new Invalid("spec.cases must be a list", root, name);
  return { name, file, cases: cases.map((c, i) => parseCase(c, ["spec", "cases", i], name)) };
}

/** Parses the `kind: PolicyTest` documents of a YAML text (Policy documents are skipped). */
export function parsePolicyTests(text: string, file = "<input>"): PolicyTestSuite[] {
  const out: PolicyTestSuite[] = [];
  loadAll(text, file).forEach((raw, index) => {
    if (raw === null || raw === undefined || (isObject(raw) && DOCUMENT_KINDS.has(raw.kind))) return;
    try {
      if (!isObject(raw) || raw.kind !== "PolicyTest")
        throw new Invalid("kind must be Policy, RouteMap or PolicyTest", { path: [] });
      out.push(parseSuite(raw, file));
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      throw policyError(file, locate(text, index, err.loc), err.message, err.rule);
    }
  });
  return out;
}

/** What a case decides: an http case is routed first (NO_ROUTE: the RouteMaps' default), then decided. */
function decideCase(
  rev: CompiledRevision,
  orgId: string,
  c: PolicyTestCase,
  nowMs: number,
  explain: boolean,
) {
  const query = explain ? { ...c.query, explain } : c.query;
  if (!c.http) return decideWith(rev, orgId, query, nowMs);
  const { scope: _s, resource, ...rest } = query;
  return decideHttpWith(rev, orgId, { ...rest, http: c.http, resourceAttr: resource?.attr }, nowMs).decision;
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
      const d = decideCase(rev, orgId, c, c.nowMs ?? nowMs, false);
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
        // Decided again with explain, only for a failure: passing cases pay nothing for traces.
        const trace = decideCase(rev, orgId, c, c.nowMs ?? nowMs, true).explanation ?? [];
        failures.push({
          suite: suite.name,
          case: c.name,
          expected,
          actual,
          rule: d.rule,
          reason: d.reason,
          trace,
        });
      }
    }
  }
  return { passed, failed: failures.length, failures };
}
