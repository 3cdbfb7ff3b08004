import { describe, expect, it } from "vitest";
import {
  DEFAULT_SCRYPT_COST,
  dummyHash,
  formatHash,
  hashPassword,
  needsRehash,
  verifyPassword,
} from "../../src/auth/passwords.js";

const CHEAP = { N: 1024, r: 1, p: 1 };
const B64 = "[A-Za-z0-9+/]+={0,2}";

describe("password hashes", () => {
  it("makes new hashes at N=2^17 (r=8, p=1) with a 16-byte salt and a 32-byte hash", async () => {
    expect(DEFAULT_SCRYPT_COST).toEqual({ N: 131072, r: 8, p: 1 });
    const stored = await hashPassword("correct horse battery");
    const m = new RegExp(`^scrypt\\$N=131072,r=8,p=1\\$(${B64})\\$(${B64})$`).exec(stored);
    expect(m).not.toBeNull();
    expect(Buffer.from(m?.[1] ?? "", "base64")).toHaveLength(16);
    expect(Buffer.from(m?.[2] ?? "", "base64")).toHaveLength(32);
    expect(await verifyPassword("correct horse battery", stored)).toBe(true);
    expect(await verifyPassword("correct horse batterY", stored)).toBe(false);
  });

  it("is real scrypt with the stored parameters (RFC 7914 §12 test vector)", async () => {
    const hash = Buffer.from(
      "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162" +
        "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640",
      "hex",
    );
    const stored = formatHash({ N: 1024, r: 8, p: 16 }, Buffer.from("NaCl"), hash);
    expect(await verifyPassword("password", stored)).toBe(true);
    expect(await verifyPassword("Password", stored)).toBe(false);
  });

  it("salts every hash, and verification reads the cost from the stored string", async () => {
    const a = await hashPassword("same password here", CHEAP);
    const b = await hashPassword("same password here", CHEAP);
    expect(a).not.toBe(b);
    expect(a.startsWith("scrypt$N=1024,r=1,p=1$")).toBe(true);
    expect(await verifyPassword("same password here", a)).toBe(true);
    expect(await verifyPassword("same password here", b)).toBe(true);
    expect(await verifyPassword("", a)).toBe(false);
  });

  it("normalises Unicode (NFKC) so composed and decomposed forms match", async () => {
    const stored = await hashPassword("caf\u00e9-password", CHEAP);
    expect(await verifyPassword("cafe\u0301-password", stored)).toBe(true);
  });

  it("says when a hash was made with other parameters", async () => {
    const stored = await hashPassword("some password!", CHEAP);
    expect(needsRehash(stored, CHEAP)).toBe(false);
    expect(needsRehash(stored, { ...CHEAP, N: 2048 })).toBe(true);
    expect(needsRehash(stored, DEFAULT_SCRYPT_COST)).toBe(true);
  });

  it("a dummy hash is well-formed, uses the given cost, and matches nothing", async () => {
    const d = dummyHash(CHEAP);
    expect(d.startsWith("scrypt$N=1024,r=1,p=1$")).toBe(true);
    expect(await verifyPassword("", d)).toBe(false);
    expect(await verifyPassword("anything at all", d)).toBe(false);
  });

  const salt = Buffer.alloc(16, 1).toString("base64");
  const hash = Buffer.alloc(32, 2).toString("base64");
  it.each([
    ["empty", ""],
    ["another algorithm", `bcrypt$N=1024,r=1,p=1$${salt}$${hash}`],
    ["a missing part", `scrypt$N=1024,r=1,p=1$${salt}`],
    ["N not a power of two", `scrypt$N=1000,r=1,p=1$${salt}$${hash}`],
    ["N too large", `scrypt$N=4194304,r=8,p=1$${salt}$${hash}`],
    ["r zero", `scrypt$N=1024,r=0,p=1$${salt}$${hash}`],
    ["p too large", `scrypt$N=1024,r=1,p=99$${salt}$${hash}`],
    ["an empty salt", `scrypt$N=1024,r=1,p=1$$${hash}`],
    ["a short hash", `scrypt$N=1024,r=1,p=1$${salt}$${Buffer.alloc(8).toString("base64")}`],
    ["a non-base64 hash", `scrypt$N=1024,r=1,p=1$${salt}$not*base64`],
  ])("refuses a malformed stored hash (%s) without echoing it", async (_name, stored) => {
    const err = await verifyPassword("a password to check", stored).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe("stored password hash is malformed");
  });
});
