import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SIGNING_ALG } from "../../src/auth/key-ring.js";
import { hasDuplicateKeys } from "../../src/auth/strict-json.js";
import { ACCESS_TOKEN_TYP } from "../../src/auth/token-claims.js";
import { MAX_TOKEN_BYTES } from "../../src/auth/token-verifier.js";
import { b64, claimsAt, expectRefused, handMade, type Kit, openKit, privateKeyOf, T0 } from "./token-kit.js";

let kit: Kit;
let kid: string;
beforeAll(async () => {
  kit = await openKit();
  kid = kit.ring.signingKey().kid;
});
afterAll(() => kit.close());

/** Our header as exact JSON text, with `extra` members written before the usual ones. */
const headerText = (extra = "") =>
  `{${extra}"alg":"${SIGNING_ALG}","kid":"${kid}","typ":"${ACCESS_TOKEN_TYP}"}`;
/** Claims as exact JSON text, with `extra` members written first. */
const claimsText = (extra = "") => `{${extra}${JSON.stringify(claimsAt(T0)).slice(1)}`;
const sign = (header: string, claims: string) => handMade(header, claims, privateKeyOf(kit.ring));

describe("one token, one meaning", () => {
  it("accepts the hand-made token the other cases alter (control)", async () => {
    const claims = await kit.verifier().verify(await sign(headerText(), claimsText()));
    expect(claims.sub).toBe("agt_unit");
  });

  it.each([
    ["alg, first none then ours", '"alg":"none",'],
    ["alg, twice the same", `"alg":"${SIGNING_ALG}",`],
    ["kid, first another", '"kid":"other",'],
    ["alg, spelled with an escape", '"\\u0061lg":"none",'],
  ])("refuses a correctly signed token whose header repeats %s", async (_name, extra) => {
    await expectRefused(kit.verifier().verify(await sign(headerText(extra), claimsText())), "TOKEN_INVALID");
  });

  it.each([
    ["sub", '"sub":"agt_admin",'],
    ["tier", '"tier":"privileged",'],
    ["exp", `"exp":${T0 + 10_000_000},`],
  ])("refuses a correctly signed token whose claims repeat %s", async (_name, extra) => {
    await expectRefused(kit.verifier().verify(await sign(headerText(), claimsText(extra))), "TOKEN_INVALID");
  });
});

describe("canonical base64url only", () => {
  // An Ed25519 signature is 64 bytes: 86 base64url characters, the last carrying 4 spare bits.
  // A canonical last character has them clear (A, Q, g or w); setting one keeps the bytes.
  const SPARE: Record<string, string> = { A: "B", Q: "R", g: "h", w: "x" };

  it("refuses a signature whose last character has a spare bit set", async () => {
    const token = await sign(headerText(), claimsText());
    const last = token.at(-1) ?? "";
    expect(Object.keys(SPARE)).toContain(last);
    const altered = `${token.slice(0, -1)}${SPARE[last]}`;
    // Same signature bytes: only the canonical-encoding check can tell the two apart.
    expect(Buffer.from(altered.split(".")[2] ?? "", "base64url")).toEqual(
      Buffer.from(token.split(".")[2] ?? "", "base64url"),
    );
    await expectRefused(kit.verifier().verify(altered), "TOKEN_MALFORMED");
    await expect(kit.verifier().verify(token)).resolves.toMatchObject({ sub: "agt_unit" });
  });

  it("refuses padding and standard-base64 characters", async () => {
    const token = await sign(headerText(), claimsText());
    const [h, p, s] = token.split(".");
    await expectRefused(kit.verifier().verify(`${h}.${p}.${s}==`), "TOKEN_MALFORMED");
    const std = Buffer.from(s ?? "", "base64url").toString("base64");
    if (std !== s) await expectRefused(kit.verifier().verify(`${h}.${p}.${std}`), "TOKEN_MALFORMED");
  });
});

describe("size is counted in bytes", () => {
  it("refuses 5000 é (5000 characters, 10000 bytes) as TOKEN_TOO_LARGE", async () => {
    const token = "é".repeat(5000);
    expect(token.length).toBeLessThan(MAX_TOKEN_BYTES);
    expect(Buffer.byteLength(token)).toBeGreaterThan(MAX_TOKEN_BYTES);
    await expectRefused(kit.verifier().verify(token), "TOKEN_TOO_LARGE");
  });

  it("refuses a signed token just over the limit, whatever it holds", async () => {
    const pad = "x".repeat(MAX_TOKEN_BYTES);
    const token = await sign(headerText(), claimsText(`"pad":"${pad}",`));
    await expectRefused(kit.verifier().verify(token), "TOKEN_TOO_LARGE");
  });
});

describe("hasDuplicateKeys", () => {
  it.each<[string, string, boolean]>([
    ["distinct keys", '{"a":1,"b":2}', false],
    ["a repeated key", '{"a":1,"a":2}', true],
    ["a repeated key with spaces around the colon", '{ "a" : 1 , "a" :2 }', true],
    ["an empty key twice", '{"":1,"":2}', true],
    ["a repeat in a nested object", '{"a":{"b":1,"b":2}}', true],
    ["the same key in sibling objects", '{"a":{"b":1},"c":{"b":1}}', false],
    ["a key of the outer object reused inside", '{"a":{"a":1},"b":2}', false],
    ["an outer key repeated after a nested object closes", '{"a":{"x":1},"x":2,"a":3}', true],
    ["objects in an array with the same keys", '[{"a":1},{"a":2}]', false],
    ["a repeat inside an object in an array", '{"x":[{"a":1},{"b":1,"b":2}]}', true],
    ["keys after an array of objects", '{"x":[{"a":1}],"a":2}', false],
    ["an escaped quote in a key", '{"a\\"b":1,"a\\"b":2}', true],
    ["keys differing only by an escaped quote", '{"a\\"b":1,"a":2,"b":3}', false],
    ["a value that looks like a key", '{"a":"x\\":\\"a","b":1}', false],
    ["a value ending in a backslash", '{"a":"\\\\","a":1}', true],
    ["strings in an array followed by a colon-like value", '{"l":["a","a"],"m":":"}', false],
    ["keys equal after unescaping", '{"a":1,"\\u0061":2}', true],
    ["non-ASCII keys equal after unescaping", '{"\\u00e9":1,"é":2}', true],
    ["an escaped slash", '{"a/b":1,"a\\/b":2}', true],
    ["keys that differ by case", '{"alg":1,"ALG":2}', false],
  ])("%s", (_name, json, expected) => {
    expect(() => JSON.parse(json)).not.toThrow();
    expect(hasDuplicateKeys(json)).toBe(expected);
  });

  it("reads a header a token really carries", () => {
    expect(hasDuplicateKeys(Buffer.from(b64(headerText('"alg":"none",')), "base64url").toString())).toBe(
      true,
    );
  });
});
