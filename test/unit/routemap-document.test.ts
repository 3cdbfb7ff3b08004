import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { TesseraError } from "../../src/domain/errors.js";
import { LIMITS } from "../../src/domain/limits.js";
import { parseDocumentSet, parsePolicyDocuments } from "../../src/engine/document.js";
import { PolicyEngine } from "../../src/engine/engine.js";
import { routeRequest } from "../../src/engine/routes.js";

/** A RouteMap text that must be refused, and where the refusal must point. */
interface InvalidCase {
  readonly name: string;
  readonly text: string;
  readonly line: number;
  readonly column: number;
}

const CORPUS = new URL("../fixtures/routes/invalid/routemaps.yaml", import.meta.url);
const invalid = parse(readFileSync(CORPUS, "utf8")) as InvalidCase[];

function thrown(fn: () => unknown): TesseraError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TesseraError);
    return err as TesseraError;
  }
  throw new Error("expected a TesseraError, but nothing was thrown");
}

/** Parses and compiles, as PutPolicy and ValidatePolicy do (overlaps are found compiling the set). */
const check = (text: string, file = "maps/m.yaml") =>
  PolicyEngine.compile(0, parseDocumentSet([{ text, file }]));

const MAP = `apiVersion: tessera.dev/v1
kind: RouteMap
metadata: { name: todo-api }
spec:
  hosts: ["todo.internal", "*.todo.internal"]
  routes:
    - match: { method: GET, path: /todos }
      scope: todos:list
      resource: { kind: todo-list }
    - match: { methods: [PUT, DELETE], path: "/todos/{id}" }
      scope: todos:write
      resource: { kind: todo, id: "{id}" }
  default: deny
`;

describe("RouteMap documents: refusals (POLICY_INVALID, file:line:column)", () => {
  it("has a corpus to run", () => {
    expect(invalid.length).toBeGreaterThanOrEqual(30);
  });

  it.each(invalid)("$name", (c) => {
    const err = thrown(() => check(c.text));
    expect(err.reason).toBe("POLICY_INVALID");
    expect(err.kind).toBe("invalid_argument");
    expect(err.details).toEqual({ file: "maps/m.yaml", line: String(c.line), column: String(c.column) });
  });

  it("a RouteMap and a Policy share names: the same name twice is refused", () => {
    const policy =
      "apiVersion: tessera.dev/v1\nkind: Policy\nmetadata: { name: todo-api }\nspec:\n  rules: []\n";
    const err = thrown(() => check(`${MAP}---\n${policy}`));
    expect(err.reason).toBe("POLICY_INVALID");
  });

  it(`more than LIMITS.routesPerDocument (${LIMITS.routesPerDocument}) routes in one document`, () => {
    const routes = Array.from(
      { length: LIMITS.routesPerDocument + 1 },
      (_, i) => `    - { match: { method: GET, path: /r${i} }, scope: a:b, resource: { kind: a } }\n`,
    ).join("");
    const err = thrown(() =>
      check(`apiVersion: tessera.dev/v1\nkind: RouteMap\nmetadata: { name: m }\nspec:\n  routes:\n${routes}`),
    );
    expect(err.reason).toBe("POLICY_INVALID");
    expect(err.details.line).toBe("6"); // the list itself
  });
});

describe("RouteMap documents: accepted", () => {
  it("parses the issue's example", () => {
    const [doc] = parsePolicyDocuments(MAP, "maps/todo.yaml");
    expect(doc).toMatchObject({
      name: "todo-api",
      kind: "RouteMap",
      rules: [],
      routeMap: {
        hosts: ["todo.internal", "*.todo.internal"],
        default: "deny",
        routes: [
          { methods: ["GET"], path: "/todos", scope: "todos:list", resource: { kind: "todo-list" } },
          {
            methods: ["PUT", "DELETE"],
            path: "/todos/{id}",
            scope: "todos:write",
            resource: { kind: "todo", id: "{id}" },
          },
        ],
      },
    });
  });

  it("mint: the map's applies to every route, a route's own wins; ttl in s, m or h", () => {
    const text = MAP.replace("  routes:\n", "  mint: { ttl: 2m }\n  routes:\n").replace(
      '      resource: { kind: todo, id: "{id}" }\n',
      '      resource: { kind: todo, id: "{id}" }\n      mint: { ttl: 90, audience: tessera }\n',
    );
    const [doc] = parsePolicyDocuments(text, "maps/todo.yaml");
    expect(doc?.routeMap?.mint).toEqual({ ttlSeconds: 120, audience: undefined });
    expect(doc?.routeMap?.routes[1]?.mint).toEqual({ ttlSeconds: 90, audience: "tessera" });
    const table = check(text).routes;
    expect(routeRequest(table, { method: "GET", host: "todo.internal", path: "/todos" })).toMatchObject({
      mint: { ttlSeconds: 120 },
    });
    expect(routeRequest(table, { method: "PUT", host: "todo.internal", path: "/todos/1" })).toMatchObject({
      mint: { ttlSeconds: 90, audience: "tessera" },
    });
    expect(
      routeRequest(check(MAP).routes, { method: "GET", host: "todo.internal", path: "/todos" }),
    ).not.toHaveProperty("mint");
  });

  it("a text may mix Policy and RouteMap documents; default is deny when absent", () => {
    const text = `${MAP.replace("  default: deny\n", "")}---\napiVersion: tessera.dev/v1\nkind: Policy\nmetadata: { name: p }\nspec:\n  rules:\n    - { name: r, scopes: ["todos:list"], effect: allow }\n`;
    const docs = parsePolicyDocuments(text, "mixed.yaml");
    expect(docs.map((d) => [d.name, d.kind ?? "Policy"])).toEqual([
      ["todo-api", "RouteMap"],
      ["p", "Policy"],
    ]);
    expect(docs[0]?.routeMap?.default).toBe("deny");
    expect(check(text).routes.routeCount).toBe(2);
  });

  it("the same method and path on hosts that cannot overlap is two routes", () => {
    const other = MAP.replace("todo-api", "other").replace(
      '["todo.internal", "*.todo.internal"]',
      '["other.internal", "*.other.internal"]',
    );
    const compiled = check(`${MAP}---\n${other}`);
    expect(compiled.routes.routeCount).toBe(4);
  });
});
