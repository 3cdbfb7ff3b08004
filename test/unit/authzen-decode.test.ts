import { describe, expect, it } from "vitest";
import { TesseraError } from "../../src/domain/errors.js";
import { AUTHZEN_LIMITS, LIMITS, STRUCT_LIMITS } from "../../src/domain/limits.js";
import {
  actionNameOf,
  evaluationsOf,
  itemQuestion,
  merged,
  pageOf,
  parseBody,
  parts,
  question,
  scopeOf,
  semanticOf,
} from "../../src/rpc/authzen-decode.js";

/** Issue #12: the AuthZEN JSON checker — every string field bounded, in UTF-8 bytes, like Authorize's. */

const base = () => ({
  subject: { type: "user", id: "u" },
  action: { name: "doc:read" },
  resource: { type: "doc", id: "d" },
});

/** The refusal of decoding `body` as one question, as its reason and field; "ok" when it decodes. */
function outcome(body: unknown): string {
  try {
    question(parts(body as Record<string, unknown>, ""));
    return "ok";
  } catch (err) {
    if (!(err instanceof TesseraError)) throw err;
    return `${err.reason} ${err.details.field ?? ""}`.trim();
  }
}

// "é" is 2 bytes in UTF-8: a string of n/2 of them is exactly n bytes.
const bytes = (n: number) => (n % 2 === 0 ? "é".repeat(n / 2) : `a${"é".repeat((n - 1) / 2)}`);

const STRING_FIELDS: [string, number, (v: string) => object][] = [
  ["subject.type", AUTHZEN_LIMITS.typeBytes, (v) => ({ ...base(), subject: { type: v, id: "u" } })],
  ["subject.id", AUTHZEN_LIMITS.idBytes, (v) => ({ ...base(), subject: { type: "user", id: v } })],
  ["action.name", AUTHZEN_LIMITS.actionBytes, (v) => ({ ...base(), action: { name: v } })],
  ["resource.type", AUTHZEN_LIMITS.typeBytes, (v) => ({ ...base(), resource: { type: v, id: "d" } })],
  ["resource.id", AUTHZEN_LIMITS.idBytes, (v) => ({ ...base(), resource: { type: "doc", id: v } })],
  [
    "subject.properties.roles[0]",
    LIMITS.listItemBytes,
    (v) => ({ ...base(), subject: { type: "user", id: "u", properties: { roles: [v] } } }),
  ],
  ["context.k", STRUCT_LIMITS.stringBytes, (v) => ({ ...base(), context: { k: v } })],
];

describe("AuthZEN request bounds", () => {
  it.each(STRING_FIELDS)("%s: %i bytes pass, one more is FIELD_TOO_LARGE naming it", (field, limit, body) => {
    expect(outcome(body(bytes(limit)))).toBe("ok");
    expect(outcome(body(bytes(limit + 1)))).toBe(`FIELD_TOO_LARGE ${field}`);
  });

  it("bounds lists of roles and the evaluations array", () => {
    const roles = Array.from({ length: LIMITS.listItems + 1 }, () => "r");
    expect(outcome({ ...base(), subject: { type: "u", id: "u", properties: { roles } } })).toBe(
      "FIELD_TOO_LARGE subject.properties.roles",
    );
    const many = { evaluations: Array.from({ length: AUTHZEN_LIMITS.evaluations + 1 }, () => ({})) };
    expect(() => evaluationsOf(many)).toThrow(expect.objectContaining({ reason: "BATCH_TOO_LARGE" }));
    expect(evaluationsOf({ evaluations: [] })).toBeUndefined();
  });

  it("refuses malformed bodies with REQUEST_MALFORMED, and ignores unknown fields", () => {
    for (const text of ["", "{", "[]", "null", '"x"', "1"]) {
      expect(() => parseBody(text)).toThrow(expect.objectContaining({ reason: "REQUEST_MALFORMED" }));
    }
    // Invalid UTF-8 (a lone 0xff inside a string) is refused, not replaced.
    const bad = new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]);
    expect(() => parseBody(bad)).toThrow(expect.objectContaining({ reason: "REQUEST_MALFORMED" }));
    expect(parseBody(new TextEncoder().encode('{"a":"é"}'))).toEqual({ a: "é" });
    expect(outcome({ ...base(), extra: { deep: [1, 2] } })).toBe("ok");
    expect(outcome({ ...base(), subject: { type: "user", id: "u", nickname: 3 } })).toBe("ok");
  });

  it("names the first missing or mistyped field", () => {
    expect(outcome({ action: { name: "a:b" }, resource: { type: "t", id: "1" } })).toBe(
      "REQUEST_MALFORMED subject",
    );
    expect(outcome({ ...base(), subject: { type: "user", id: "" } })).toBe("REQUEST_MALFORMED subject.id");
    expect(outcome({ ...base(), action: { name: 1 } })).toBe("REQUEST_MALFORMED action.name");
    expect(outcome({ ...base(), resource: { type: "t", id: 1 } })).toBe("REQUEST_MALFORMED resource.id");
    expect(outcome({ ...base(), context: "x" })).toBe("REQUEST_MALFORMED context");
  });

  it("maps action names to scopes and back", () => {
    expect(scopeOf("read", "record")).toBe("record:read");
    expect(scopeOf("audit:read", "record")).toBe("audit:read");
    expect(actionNameOf("record:read", "record")).toBe("read");
    expect(actionNameOf("audit:read", "record")).toBe("audit:read");
    expect(
      question(parts({ ...base(), action: { name: "del", properties: { soft: true } } }, "")).context,
    ).toEqual({
      action: { soft: true },
    });
  });

  it("merges batch defaults at the entity level, with required identifiers from the default", () => {
    const top = parts(
      { subject: { type: "user", id: "u", properties: { a: 1 } }, resource: { type: "doc" } },
      "",
    );
    const item = parts(
      { resource: { id: "d1", properties: { s: "x" } }, action: { name: "read" } },
      "evaluations[0]",
    );
    expect(merged(top, item)).toEqual({
      subject: { type: "user", id: "u", properties: { a: 1 } },
      action: { name: "read", properties: undefined },
      resource: { type: "doc", id: "d1", properties: { s: "x" } },
      context: undefined,
    });
    const bad = itemQuestion(top, {}, 3);
    expect(bad).toBeInstanceOf(TesseraError);
    expect((bad as TesseraError).details.field).toBe("evaluations[3].action");
  });

  it("reads the semantic and the page", () => {
    expect(semanticOf({})).toBe("execute_all");
    expect(semanticOf({ options: { evaluations_semantic: "permit_on_first_permit" } })).toBe(
      "permit_on_first_permit",
    );
    expect(() => semanticOf({ options: { evaluations_semantic: "any" } })).toThrow(
      expect.objectContaining({ reason: "ENUM_VALUE_UNKNOWN" }),
    );
    expect(pageOf({ page: { limit: 5, token: "10" } }, 100)).toEqual({ offset: 10, limit: 5 });
    expect(pageOf({ page: { limit: 500 } }, 100)).toEqual({ offset: 0, limit: 100 });
    expect(() => pageOf({ page: { token: "abc" } }, 100)).toThrow(
      expect.objectContaining({ reason: "REQUEST_MALFORMED" }),
    );
    expect(() => pageOf({ page: { limit: 0 } }, 100)).toThrow(
      expect.objectContaining({ reason: "REQUEST_MALFORMED" }),
    );
  });
});
