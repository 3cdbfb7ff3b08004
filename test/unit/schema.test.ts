import { readdirSync, readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments, stringify } from "yaml";
import { TesseraError } from "../../src/domain/errors.js";
import { parsePolicyDocuments } from "../../src/engine/document.js";
import { parsePolicyTests } from "../../src/engine/policy-test.js";

const ROOT = new URL("../../", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, ROOT), "utf8");
const yamlIn = (dir: string) =>
  readdirSync(new URL(dir, ROOT))
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => `${dir}${f}`);
const docsOf = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as unknown);

// ajv does not check formats without ajv-formats; the parser checks `now` itself.
const ajv = new Ajv2020({ allErrors: true, strict: true, validateFormats: false });
const policySchema = ajv.compile(JSON.parse(read("schemas/policy.schema.json")) as object);
const testSchema = ajv.compile(JSON.parse(read("schemas/policy-test.schema.json")) as object);

/** True when the parser accepts the document; false on POLICY_INVALID (anything else fails the test). */
function parserAccepts(parseFn: () => unknown): boolean {
  try {
    parseFn();
    return true;
  } catch (err) {
    expect(err).toBeInstanceOf(TesseraError);
    expect((err as TesseraError).reason).toBe("POLICY_INVALID");
    return false;
  }
}

describe("the JSON schemas accept every valid document", () => {
  const fixtures = yamlIn("test/fixtures/engine/").flatMap((file) => {
    const policy = (parse(read(file)) as { policy?: string }).policy;
    return policy === undefined ? [] : docsOf(policy).map((doc, i) => ({ where: `${file}#${i}`, doc }));
  });
  const examples = yamlIn("examples/policies/").flatMap((file) =>
    docsOf(read(file)).map((doc, i) => ({ where: `${file}#${i}`, doc })),
  );

  it("finds fixture and example policies to check", () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(8);
    expect(examples.length).toBeGreaterThanOrEqual(1);
    expect(yamlIn("examples/tests/").length).toBeGreaterThanOrEqual(1);
  });

  it.each([...fixtures, ...examples])("policy.schema.json: $where", ({ doc }) => {
    expect(policySchema(doc), JSON.stringify(policySchema.errors)).toBe(true);
  });

  it.each(yamlIn("examples/tests/"))("policy-test.schema.json: %s", (file) => {
    for (const doc of docsOf(read(file)))
      expect(testSchema(doc), JSON.stringify(testSchema.errors)).toBe(true);
  });
});

// biome-ignore lint/suspicious/noExplicitAny: each case reaches into the document wherever it must break it.
type Doc = Record<string, any>;
const RULE = { name: "r", scopes: ["gov:read"], effect: "allow", minTier: "verified", roles: ["auditor"] };
const base = (): Doc => ({
  apiVersion: "tessera.dev/v1",
  kind: "Policy",
  metadata: { name: "p" },
  spec: { roles: { auditor: { inherits: ["viewer"] } }, rules: [{ ...RULE, condition: "true" }] },
});
const withRule = (patch: Doc) => (d: Doc) => {
  d.spec.rules[0] = { ...d.spec.rules[0], ...patch };
};

const INVALID_POLICIES: [string, (d: Doc) => void][] = [
  ["an unknown top-level field", (d) => Object.assign(d, { status: {} })],
  ["an unknown spec field", (d) => Object.assign(d.spec, { defaults: {} })],
  ["an unknown rule field", withRule({ priority: 1 })],
  ["an unknown role field", (d) => Object.assign(d.spec.roles.auditor, { weight: 1 })],
  ["a bad effect", withRule({ effect: "permit" })],
  ["an effect in capitals", withRule({ effect: "Allow" })],
  ["a bad tier", withRule({ minTier: "godlike" })],
  ["a null tier", withRule({ minTier: null })],
  ["a scope without a verb", withRule({ scopes: ["gov"] })],
  ["a scope of three segments", withRule({ scopes: ["gov:read:all"] })],
  ["a scope in capitals", withRule({ scopes: ["Gov:read"] })],
  ["a partial wildcard", withRule({ scopes: ["gov:re*"] })],
  ["no scopes", withRule({ scopes: [] })],
  ["a bad resource kind", withRule({ resources: ["Tool!"] })],
  ["a condition that is not a string", withRule({ condition: 5 })],
  ["an empty condition", withRule({ condition: "" })],
  ["an unknown onConditionError", withRule({ onConditionError: "allow" })],
  ["onConditionError without a condition", withRule({ onConditionError: "deny", condition: undefined })],
  ["a missing rule name", (d) => delete d.spec.rules[0].name],
  ["a missing effect", (d) => delete d.spec.rules[0].effect],
  ["a missing metadata.name", (d) => delete d.metadata.name],
  ["a bad metadata.name", (d) => Object.assign(d.metadata, { name: "Bad Name" })],
  ["a wrong apiVersion", (d) => Object.assign(d, { apiVersion: "tessera.dev/v2" })],
  ["a wrong kind", (d) => Object.assign(d, { kind: "PolicyTest" })],
  ["rules that are not a list", (d) => Object.assign(d.spec, { rules: {} })],
  ["no rules", (d) => delete d.spec.rules],
  ["a bad custom role name", (d) => Object.assign(d.spec, { roles: { Auditor: null } })],
  ["inherits that is not a list", (d) => Object.assign(d.spec.roles.auditor, { inherits: "viewer" })],
];

describe("the policy schema and parsePolicyDocuments agree", () => {
  it("both accept the base document", () => {
    expect(policySchema(base())).toBe(true);
    expect(parserAccepts(() => parsePolicyDocuments(stringify(base()), "p.yaml"))).toBe(true);
  });

  it.each(["deny", "skip"])("both accept onConditionError: %s beside a condition", (value) => {
    const doc = base();
    withRule({ onConditionError: value })(doc);
    expect(policySchema(doc)).toBe(true);
    expect(parserAccepts(() => parsePolicyDocuments(stringify(doc), "p.yaml"))).toBe(true);
  });

  it.each(INVALID_POLICIES)("both reject %s", (_name, mutate) => {
    const doc = base();
    mutate(doc);
    expect(policySchema(doc)).toBe(false);
    expect(parserAccepts(() => parsePolicyDocuments(stringify(doc), "p.yaml"))).toBe(false);
  });
});

const CASE = { name: "c", subject: { id: "a", tier: "verified" }, scope: "gov:read", expect: "allow" };
const testDoc = (patch: Doc): Doc => ({
  apiVersion: "tessera.dev/v1",
  kind: "PolicyTest",
  metadata: { name: "s" },
  spec: {
    cases: [Object.fromEntries(Object.entries({ ...CASE, ...patch }).filter(([, v]) => v !== undefined))],
  },
});

describe("the policy-test schema and parsePolicyTests agree", () => {
  it("both accept a plain case", () => {
    expect(testSchema(testDoc({}))).toBe(true);
    expect(parserAccepts(() => parsePolicyTests(stringify(testDoc({})), "t.yaml"))).toBe(true);
  });

  it.each<[string, Doc]>([
    ["an unknown case field", { priority: 1 }],
    ["an unknown subject field", { subject: { id: "a", org: "x" } }],
    ["a bad tier", { subject: { tier: "godlike" } }],
    ["a bad scope", { scope: "gov read" }],
    ["a wildcard scope", { scope: "gov:*" }],
    ["a bad expect", { expect: "maybe" }],
    ["a missing expect", { expect: undefined }],
    ["a missing scope", { scope: undefined }],
    ["a missing subject", { subject: undefined }],
    ["a resource without a kind", { resource: { id: "r" } }],
  ])("both reject %s", (_name, patch) => {
    expect(testSchema(testDoc(patch))).toBe(false);
    expect(parserAccepts(() => parsePolicyTests(stringify(testDoc(patch)), "t.yaml"))).toBe(false);
  });
});

const routeMapSchema = ajv.compile(JSON.parse(read("schemas/routemap.schema.json")) as object);
const ROUTE = {
  match: { method: "GET", path: "/todos/{id}" },
  scope: "todos:read",
  resource: { kind: "todo", id: "{id}" },
};
const routeMap = (): Doc => ({
  apiVersion: "tessera.dev/v1",
  kind: "RouteMap",
  metadata: { name: "m" },
  spec: { hosts: ["todo.internal", "*.todo.internal"], routes: [structuredClone(ROUTE)], default: "deny" },
});
const withRoute = (patch: (r: Doc) => void) => (d: Doc) => patch(d.spec.routes[0]);

describe("the RouteMap schema and parsePolicyDocuments agree", () => {
  const fixtures = yamlIn("test/fixtures/routes/").flatMap((file) => {
    const text = (parse(read(file)) as { routeMaps?: string }).routeMaps ?? "";
    return docsOf(text)
      .filter(Boolean)
      .map((doc, i) => ({ where: `${file}#${i}`, doc }));
  });

  it("finds route fixtures to check", () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(3);
  });

  it.each(fixtures)("routemap.schema.json accepts $where", ({ doc }) => {
    expect(routeMapSchema(doc), JSON.stringify(routeMapSchema.errors)).toBe(true);
  });

  it("both accept the base document", () => {
    expect(routeMapSchema(routeMap())).toBe(true);
    expect(parserAccepts(() => parsePolicyDocuments(stringify(routeMap()), "m.yaml"))).toBe(true);
  });

  it("both accept mint on the map and on a route", () => {
    const doc = routeMap();
    Object.assign(doc.spec, { mint: { ttl: "15m", audience: "tessera" } });
    Object.assign(doc.spec.routes[0], { mint: { ttl: 90 } });
    expect(routeMapSchema(doc), JSON.stringify(routeMapSchema.errors)).toBe(true);
    expect(parserAccepts(() => parsePolicyDocuments(stringify(doc), "m.yaml"))).toBe(true);
  });

  it.each<[string, (d: Doc) => void]>([
    ["an unknown spec field", (d) => Object.assign(d.spec, { fallback: "allow" })],
    ["an unknown route field", withRoute((r) => Object.assign(r, { effect: "allow" }))],
    ["an unknown match field", withRoute((r) => Object.assign(r.match, { query: "x" }))],
    ["a lowercase method", withRoute((r) => Object.assign(r.match, { method: "get" }))],
    ["method and methods", withRoute((r) => Object.assign(r.match, { methods: ["PUT"] }))],
    ["no method", withRoute((r) => delete r.match.method)],
    ["a path without a leading slash", withRoute((r) => Object.assign(r.match, { path: "todos" }))],
    ["a trailing slash", withRoute((r) => Object.assign(r.match, { path: "/todos/" }))],
    ["a partial placeholder", withRoute((r) => Object.assign(r.match, { path: "/todos/x{id}" }))],
    ["a % escape", withRoute((r) => Object.assign(r.match, { path: "/to%64os" }))],
    ["a ; in a path", withRoute((r) => Object.assign(r.match, { path: "/todos;v=1" }))],
    ["a wildcard scope", withRoute((r) => Object.assign(r, { scope: "todos:*" }))],
    ["no resource", withRoute((r) => delete r.resource)],
    ["a resource field other than kind and id", withRoute((r) => Object.assign(r.resource, { attr: {} }))],
    ["a host with a port", (d) => Object.assign(d.spec, { hosts: ["todo.internal:80"] })],
    ["a host in capitals", (d) => Object.assign(d.spec, { hosts: ["Todo.internal"] })],
    ["no hosts listed", (d) => Object.assign(d.spec, { hosts: [] })],
    ["a bad default", (d) => Object.assign(d.spec, { default: "maybe" })],
    ["routes that are not a list", (d) => Object.assign(d.spec, { routes: {} })],
    ["a mint that is not a mapping", withRoute((r) => Object.assign(r, { mint: true }))],
    ["a mint field other than ttl and audience", (d) => Object.assign(d.spec, { mint: { scopes: ["a:b"] } })],
    ["a mint ttl in days", withRoute((r) => Object.assign(r, { mint: { ttl: "2d" } }))],
    ["a mint ttl of more than a day", (d) => Object.assign(d.spec, { mint: { ttl: 86_401 } })],
    ["an empty mint audience", (d) => Object.assign(d.spec, { mint: { audience: "" } })],
  ])("both reject %s", (_name, mutate) => {
    const doc = routeMap();
    mutate(doc);
    expect(routeMapSchema(doc)).toBe(false);
    expect(parserAccepts(() => parsePolicyDocuments(stringify(doc), "m.yaml"))).toBe(false);
  });

  it("the policy-test schema and parser both take an http case, and both refuse one with a scope too", () => {
    const http = { scope: undefined, http: { method: "GET", path: "/todos" }, resource: { attr: { a: 1 } } };
    expect(testSchema(testDoc({ ...http, reason: "NO_ROUTE" })), JSON.stringify(testSchema.errors)).toBe(
      true,
    );
    expect(parserAccepts(() => parsePolicyTests(stringify(testDoc(http)), "t.yaml"))).toBe(true);
    const both = { ...http, scope: "gov:read" };
    expect(testSchema(testDoc(both))).toBe(false);
    expect(parserAccepts(() => parsePolicyTests(stringify(testDoc(both)), "t.yaml"))).toBe(false);
    const kind = { ...http, resource: { kind: "todo" } };
    expect(testSchema(testDoc(kind))).toBe(false);
    expect(parserAccepts(() => parsePolicyTests(stringify(testDoc(kind)), "t.yaml"))).toBe(false);
  });
});
