import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { LIMITS } from "../../src/domain/limits.js";
import { parsePolicyDocuments } from "../../src/engine/document.js";
import { PolicyEngine } from "../../src/engine/engine.js";
import { type HttpRequest, parseQuery, type RouteResult } from "../../src/engine/routes.js";

/** A route-matching table: RouteMap documents, and requests with what routing must answer. */
interface Fixture {
  readonly file: string;
  readonly routeMaps: string;
  readonly cases: readonly { name: string; request: HttpRequest; expect: Record<string, unknown> }[];
}

const DIR = fileURLToPath(new URL("../fixtures/routes/", import.meta.url));

const fixtures: Fixture[] = readdirSync(DIR)
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .map((file) => ({ ...(parse(readFileSync(DIR + file, "utf8")) as Omit<Fixture, "file">), file }));

const engine = new PolicyEngine();
for (const f of fixtures)
  if (f.routeMaps.trim()) engine.install(f.file, 1, parsePolicyDocuments(f.routeMaps, f.file));

/** The result as the fixtures write it: the matched map and template left out, badPath as a flag. */
function shown(r: RouteResult): Record<string, unknown> {
  if (r.noRoute) {
    const { badPath, ...rest } = r;
    return badPath ? { ...rest, badPath: true } : { ...rest };
  }
  const { routeMap: _m, route: _r, ...rest } = r;
  return { ...rest, params: { ...rest.params }, query: { ...rest.query } };
}

describe("route matching fixtures", () => {
  it("finds the fixture files and their cases", () => {
    expect(fixtures.map((f) => f.file)).toEqual(expect.arrayContaining(["todo.yaml", "hosts.yaml"]));
    // A table that loads no case must fail, not pass over nothing.
    expect(fixtures.flatMap((f) => f.cases).length).toBeGreaterThan(40);
    for (const f of fixtures) expect(f.cases.length, f.file).toBeGreaterThan(0);
  });

  describe.each(fixtures)("$file", (fixture) => {
    it.each(fixture.cases)("$name", (c) => {
      expect(shown(engine.route(fixture.file, c.request))).toEqual(c.expect);
    });
  });
});

describe("route matching", () => {
  it("names the RouteMap and route template that matched", () => {
    const r = engine.route("todo.yaml", { method: "GET", host: "todo.internal", path: "/todos/1" });
    expect(r).toMatchObject({ routeMap: "todo-api", route: "/todos/{id}" });
  });

  it("a revision swap replaces the routes", () => {
    const e = new PolicyEngine();
    const map = (scope: string) =>
      parsePolicyDocuments(
        `apiVersion: tessera.dev/v1\nkind: RouteMap\nmetadata: { name: m }\nspec:\n  routes:\n    - match: { method: GET, path: /a }\n      scope: ${scope}\n      resource: { kind: a }\n`,
      );
    e.install("org", 1, map("a:one"));
    expect(e.route("org", { method: "GET", path: "/a" })).toMatchObject({ scope: "a:one" });
    e.install("org", 2, map("a:two"));
    expect(e.route("org", { method: "GET", path: "/a" })).toMatchObject({ scope: "a:two" });
    expect(e.route("other", { method: "GET", path: "/a" })).toMatchObject({ noRoute: true, default: "deny" });
  });

  it("routes a deep path among many placeholder routes", () => {
    // Every route shape /{a}/{b}/.../x_i: the trie is a chain, so a miss visits each node once.
    const routes = Array.from(
      { length: 30 },
      (_, i) =>
        `    - match: { method: GET, path: "${Array.from({ length: i + 1 }, (_, j) => `/{p${j}}`).join("")}/x" }\n      scope: a:b\n      resource: { kind: a }\n`,
    ).join("");
    const e = new PolicyEngine();
    e.install(
      "org",
      1,
      parsePolicyDocuments(
        `apiVersion: tessera.dev/v1\nkind: RouteMap\nmetadata: { name: m }\nspec:\n  routes:\n${routes}`,
      ),
    );
    const path = `${"/v".repeat(30)}/y`;
    expect(e.route("org", { method: "GET", path })).toMatchObject({ noRoute: true });
    expect(e.route("org", { method: "GET", path: `${"/v".repeat(30)}/x` })).toMatchObject({
      scope: "a:b",
      params: { p29: "v" },
    });
  });

  it(`keeps the first LIMITS.routeQueryKeys (${LIMITS.routeQueryKeys}) query keys`, () => {
    const query = Array.from({ length: 100 }, (_, i) => `k${i}=${i}`).join("&");
    const parsed = parseQuery(query);
    expect(Object.keys(parsed)).toHaveLength(LIMITS.routeQueryKeys);
    expect(parsed.k0).toBe("0");
    expect(parsed[`k${LIMITS.routeQueryKeys}`]).toBeUndefined();
  });
});
