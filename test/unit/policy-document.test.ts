import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { TesseraError } from "../../src/domain/errors.js";
import { API_VERSION, parsePolicyDocuments } from "../../src/engine/document.js";

/** A text the parser must refuse, and where it must say the problem is. */
interface InvalidCase {
  readonly name: string;
  readonly text: string;
  readonly line: number;
  readonly column: number;
  readonly rule?: string;
}

const CORPUS = new URL("../fixtures/engine/invalid/documents.yaml", import.meta.url);
const invalid = parse(readFileSync(CORPUS, "utf8")) as InvalidCase[];

/** The TesseraError `fn` throws; fails the test when it returns or throws anything else. */
function thrown(fn: () => unknown): TesseraError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TesseraError);
    return err as TesseraError;
  }
  throw new Error("expected a TesseraError, but nothing was thrown");
}

const policy = (name: string, rules: string) =>
  `apiVersion: ${API_VERSION}\nkind: Policy\nmetadata:\n  name: ${name}\nspec:\n  rules:\n${rules}`;
const rule = (name: string, extra = "") =>
  `    - name: ${name}\n      scopes: ["a:b"]\n      effect: allow\n${extra}`;

describe("parsePolicyDocuments rejects invalid documents", () => {
  it("has a corpus to run", () => {
    expect(invalid.length).toBeGreaterThanOrEqual(20);
  });

  it.each(invalid)("$name", (c) => {
    const err = thrown(() => parsePolicyDocuments(c.text, "policies/p.yaml"));
    expect(err.reason).toBe("POLICY_INVALID");
    expect(err.kind).toBe("invalid_argument");
    expect(err.details).toEqual({
      file: "policies/p.yaml",
      line: String(c.line),
      column: String(c.column),
      ...(c.rule ? { rule: c.rule } : {}),
    });
  });

  it("names the default file when none is given", () => {
    const err = thrown(() => parsePolicyDocuments(policy("p", rule("r1", "      minTier: root\n"))));
    expect(err.details.file).toBe("<input>");
  });

  it.each(["", "---\n", "# only a comment\n"])("refuses a text with no document: %j", (text) => {
    const err = thrown(() => parsePolicyDocuments(text, "empty.yaml"));
    expect(err.reason).toBe("POLICY_INVALID");
    expect(err.details.file).toBe("empty.yaml");
  });
});

describe("parsePolicyDocuments accepts valid documents", () => {
  it("parses a multi-document text into one document per part", () => {
    const text = [
      policy("first", rule("r1")),
      policy("second", `${rule("r1")}${rule("r2", "      minTier: trusted\n      roles: [operator]\n")}`),
      policy("third", "    - name: d\n      scopes: ['*']\n      resources: [tool]\n      effect: deny\n"),
    ].join("---\n");
    const docs = parsePolicyDocuments(text);
    expect(docs.map((d) => d.name)).toEqual(["first", "second", "third"]);
    expect(docs[1]?.rules[1]).toMatchObject({
      name: "r2",
      scopes: ["a:b"],
      effect: "allow",
      minTier: "trusted",
      roles: ["operator"],
    });
    expect(docs[1]?.rules[1]?.resources).toBeUndefined();
    expect(docs[2]?.rules[0]).toMatchObject({ effect: "deny", scopes: ["*"], resources: ["tool"] });
  });

  it("accepts an explicit document start marker", () => {
    const docs = parsePolicyDocuments(`---\n${policy("only", rule("r"))}`);
    expect(docs.map((d) => d.name)).toEqual(["only"]);
  });

  it("allows the same rule name in different documents", () => {
    const docs = parsePolicyDocuments(`${policy("a", rule("r"))}---\n${policy("b", rule("r"))}`);
    expect(docs.flatMap((d) => d.rules.map((r) => `${d.name}/${r.name}`))).toEqual(["a/r", "b/r"]);
  });

  it.each([["governance:propose"], ["governance:*"], ["*:read"], ["*"]])(
    "accepts the scope pattern %s",
    (pattern) => {
      const [doc] = parsePolicyDocuments(
        policy("p", `    - name: r\n      scopes: ["${pattern}"]\n      effect: allow\n`),
      );
      expect(doc?.rules[0]?.scopes).toEqual([pattern]);
    },
  );
});
