import { readdirSync, readFileSync } from "node:fs";
import { create, type DescFile, type DescMessage, type DescService } from "@bufbuild/protobuf";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Authorization } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import {
  AuthorizeBatchRequestSchema,
  AuthorizeRequestSchema,
  WhoAmIRequestSchema,
} from "../../gen/tessera/v1/auth_service_pb.js";
import { TesseraError } from "../../src/domain/errors.js";
import { REQUEST_LIMITS } from "../../src/domain/limits.js";
import { utf8Fits, utf8Length } from "../../src/domain/utf8.js";
import { boundProblems, fieldKey, innerMessage } from "../../src/rpc/field-bounds.js";
import { compileFieldLimits } from "../../src/rpc/field-limits.js";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera } from "../helpers/in-memory.js";
import { fill, limitCases } from "../helpers/limit-cases.js";
import { renderLimitsTable } from "../helpers/limits-doc.js";

const GEN = new URL("../../gen/tessera/v1/", import.meta.url);

/** Every service of every file in gen/tessera/v1, found by listing the directory (a new file counts). */
async function allServices(): Promise<DescService[]> {
  const services: DescService[] = [];
  for (const name of readdirSync(GEN).filter((f) => f.endsWith("_pb.ts"))) {
    const mod = (await import(new URL(name, GEN).href)) as Record<string, unknown>;
    for (const value of Object.values(mod)) {
      const file = value as Partial<DescFile>;
      if (file.kind === "file") services.push(...(file.services ?? []));
    }
  }
  return services;
}

/** Every table key reachable from the requests of `services`. */
function reachableKeys(services: readonly DescService[]): Set<string> {
  const keys = new Set<string>();
  const visit = (desc: DescMessage) => {
    for (const field of desc.fields) {
      const key = fieldKey(field);
      if (keys.has(key)) continue;
      keys.add(key);
      const bound = REQUEST_LIMITS[key];
      const inner = bound && innerMessage(field, bound);
      if (inner) visit(inner);
    }
  };
  for (const s of services) for (const m of s.methods) visit(m.input);
  return keys;
}

/** The refusal `check` throws for `request`, as its reason and details. */
function refusal(check: (r: object) => void, request: object) {
  try {
    check(request);
  } catch (err) {
    if (!(err instanceof TesseraError)) throw err;
    return { reason: err.reason, ...err.details };
  }
  return undefined;
}

const checkOf = (desc: DescMessage) => compileFieldLimits(desc) as (r: object) => void;

describe("the bound table", () => {
  let services: DescService[];
  beforeAll(async () => {
    // The third-party service we serve (Envoy ext_authz) is bounded by the same table.
    services = [...(await allServices()), Authorization];
  });

  it("bounds every field of every request of every service in gen/tessera/v1 and of ext_authz, nested messages included", () => {
    expect(services.map((s) => s.typeName).sort()).toEqual([
      "envoy.service.auth.v3.Authorization",
      "tessera.v1.AdminService",
      "tessera.v1.AuthService",
      "tessera.v1.SystemService",
    ]);
    const problems = services.flatMap((s) =>
      s.methods.flatMap((m) => boundProblems(m.input, REQUEST_LIMITS)),
    );
    // Each entry names the field, e.g. "tessera.v1.Resource.id: no bound (add it to REQUEST_LIMITS …)".
    expect([...new Set(problems)]).toEqual([]);
  });

  it("lists no field that no request has", () => {
    const reachable = reachableKeys(services);
    expect(Object.keys(REQUEST_LIMITS).filter((k) => !reachable.has(k))).toEqual([]);
  });

  it("names a field without a bound, and the server refuses to bind its method", () => {
    const { "tessera.v1.Resource.id": _, ...table } = REQUEST_LIMITS;
    expect(boundProblems(AuthorizeRequestSchema, table)).toEqual([
      "tessera.v1.Resource.id: no bound (add it to REQUEST_LIMITS in src/domain/limits.ts)",
    ]);
    expect(() => compileFieldLimits(AuthorizeRequestSchema, table)).toThrow(/tessera\.v1\.Resource\.id/);
  });

  it("names a bound of the wrong kind", () => {
    const table = {
      ...REQUEST_LIMITS,
      "tessera.v1.AuthorizeRequest.scope": { kind: "fixed", why: "" } as const,
    };
    expect(boundProblems(AuthorizeRequestSchema, table)).toEqual([
      'tessera.v1.AuthorizeRequest.scope: a "fixed" bound does not fit a scalar field',
    ]);
  });

  it("says why for every bound", () => {
    for (const [key, bound] of Object.entries(REQUEST_LIMITS)) expect(bound.why, key).toMatch(/\w{3}/);
  });

  it("is documented in the README, row for row", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const start = readme.indexOf("| field | bound | why |");
    const table = readme.slice(start, readme.indexOf("\n\n", start));
    expect(table).toBe(renderLimitsTable());
  });
});

/** Strings of any UTF-16 units, with surrogates (paired or not) and 1- to 3-byte characters all common. */
const utf16 = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0, max: 0x7f }),
      fc.integer({ min: 0x80, max: 0x7ff }),
      fc.integer({ min: 0x800, max: 0xffff }),
      fc.integer({ min: 0xd800, max: 0xdfff }),
    ),
    { maxLength: 64 },
  )
  .map((units) => String.fromCharCode(...units));

describe("UTF-8 sizes", () => {
  it("counts what Buffer.byteLength counts, lone surrogates included", () => {
    for (const s of ["", "a", "é", "€", "😀", "\ud800", "\udc00x", "a\ud83d", "é😀€a"])
      expect(utf8Length(s), JSON.stringify(s)).toBe(Buffer.byteLength(s));
    fc.assert(
      fc.property(
        utf16,
        fc.nat(300),
        (s, max) =>
          utf8Length(s) === Buffer.byteLength(s) && utf8Fits(s, max) === Buffer.byteLength(s) <= max,
      ),
    );
  });
});

describe("the compiled check", () => {
  it("takes the largest value of every bound and refuses one more, naming the field (every generated case)", async () => {
    const cases = (await allServices()).flatMap(limitCases);
    expect(cases.length).toBeGreaterThan(100);
    for (const c of cases) {
      const check = checkOf(c.method.input);
      expect(refusal(check, create(c.method.input, c.largest as never)), c.name).toBeUndefined();
      expect(refusal(check, create(c.method.input, c.over as never)), c.name).toEqual({
        reason: c.reason,
        field: c.field,
        limit: String(c.limit),
        unit: c.unit,
      });
    }
  });

  it("names the offending field inside a list: checks[3].resource.id", () => {
    const checks = Array.from({ length: 5 }, (_, i) => ({
      scope: "a:b",
      resource: { kind: "tool", id: i === 3 ? "x".repeat(257) : "t" },
    }));
    const request = create(AuthorizeBatchRequestSchema, { checks });
    expect(refusal(checkOf(AuthorizeBatchRequestSchema), request)).toMatchObject({
      reason: "FIELD_TOO_LARGE",
      field: "checks[3].resource.id",
    });
  });

  it("counts UTF-8 bytes, not UTF-16 units", () => {
    const check = checkOf(AuthorizeRequestSchema);
    const withId = (id: string) => create(AuthorizeRequestSchema, { resource: { kind: "k", id } });
    expect(refusal(check, withId("é".repeat(128)))).toBeUndefined();
    expect(refusal(check, withId("😀".repeat(64)))).toBeUndefined();
    expect(refusal(check, withId(`${"é".repeat(128)}a`))).toMatchObject({ field: "resource.id" });
    expect(refusal(check, withId(`${"😀".repeat(64)}a`))).toMatchObject({ field: "resource.id" });
  });

  it("stops walking a very deep Struct at its depth bound", () => {
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 20_000; i++) deep = { a: deep };
    const request = create(AuthorizeRequestSchema);
    request.context = deep as never;
    expect(refusal(checkOf(AuthorizeRequestSchema), request)).toMatchObject({
      field: `context${".a".repeat(8)}`,
      unit: "levels",
    });
  });

  it("bounds map fields: entries, key bytes and value bytes", () => {
    const table = {
      "google.rpc.ErrorInfo.reason": { kind: "string", maxBytes: 8, why: "test" },
      "google.rpc.ErrorInfo.domain": { kind: "string", maxBytes: 8, why: "test" },
      "google.rpc.ErrorInfo.metadata": {
        kind: "map",
        maxEntries: 2,
        keyBytes: 4,
        valueBytes: 3,
        why: "test",
      },
    } as const;
    const check = compileFieldLimits(ErrorInfoSchema, table) as (r: object) => void;
    const info = (metadata: Record<string, string>) => create(ErrorInfoSchema, { metadata });
    expect(refusal(check, info({ a: "abc", bbbb: "" }))).toBeUndefined();
    expect(refusal(check, info({ a: "", b: "", c: "" }))).toMatchObject({
      field: "metadata",
      unit: "entries",
    });
    expect(refusal(check, info({ bbbbb: "" }))).toMatchObject({ field: "metadata", unit: "key bytes" });
    expect(refusal(check, info({ k: "abcd" }))).toMatchObject({ field: 'metadata["k"]', unit: "bytes" });
  });

  it("compiles to nothing for a request without fields", () => {
    expect(compileFieldLimits(WhoAmIRequestSchema)).toBeUndefined();
  });
});

describe("every transport runs it: the in-memory level", () => {
  let t: InMemoryTessera;
  beforeAll(async () => {
    t = await inMemoryTessera();
  });
  afterAll(() => t.close());

  it("refuses an oversized field before the handler, with its path", async () => {
    const headers = { headers: { "x-api-key": t.org.apiKey } };
    const call = t.auth.authorize(
      { subject: { case: "attributes", value: { id: "a", roles: ["r", fill(129)] } }, scope: "a:b" },
      headers,
    );
    expect(await failure(call)).toMatchObject({
      code: Code.InvalidArgument,
      reason: "FIELD_TOO_LARGE",
      metadata: { field: "attributes.roles[1]", limit: "128", unit: "bytes" },
    });
    const created = t.admin.createAgent({ name: fill(257) }, { headers: t.adminHeaders });
    expect(await failure(created)).toMatchObject({ code: Code.InvalidArgument, reason: "FIELD_TOO_LARGE" });
    expect((await t.admin.listAgents({}, { headers: t.adminHeaders })).agents).toEqual([]);
  });
});
