import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  isSealed,
  MasterKeyError,
  type MasterKeyProblem,
  openPrivateJwk,
  sealPrivateJwk,
} from "../../src/auth/master-key.js";

const MASTER = randomBytes(32);
const KID = "kid-1";
const JWK = JSON.stringify({ kty: "OKP", crv: "Ed25519", x: "x-value", d: "secret-d-value" });

function problem(fn: () => unknown): MasterKeyProblem {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MasterKeyError);
    const e = err as MasterKeyError;
    expect(e.kid).toBe(KID);
    expect(e.message).not.toContain("secret-d-value");
    return e.problem;
  }
  throw new Error("expected a MasterKeyError");
}

/** Flips one bit of one base64url part of a sealed value (0 iv, 1 tag, 2 ciphertext). */
function flip(sealed: string, part: number): string {
  const parts = sealed.slice("enc:v1:".length).split(":");
  const bytes = Buffer.from(parts[part] ?? "", "base64url");
  bytes[0] = (bytes[0] ?? 0) ^ 1;
  parts[part] = bytes.toString("base64url");
  return `enc:v1:${parts.join(":")}`;
}

describe("sealing private keys with the master key", () => {
  it("round-trips, in the enc:v1 format, with nothing of the key in clear", () => {
    const sealed = sealPrivateJwk(JWK, MASTER, KID);
    expect(sealed).toMatch(/^enc:v1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]{22}:[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain("secret-d-value");
    expect(sealed).not.toContain('"d"');
    expect(isSealed(sealed)).toBe(true);
    expect(openPrivateJwk(sealed, MASTER, KID)).toBe(JWK);
  });

  it("uses a fresh IV each time", () => {
    expect(sealPrivateJwk(JWK, MASTER, KID)).not.toBe(sealPrivateJwk(JWK, MASTER, KID));
  });

  it("stores in clear without a master key (development) and reads clear keys back", () => {
    expect(sealPrivateJwk(JWK, undefined, KID)).toBe(JWK);
    expect(isSealed(JWK)).toBe(false);
    expect(openPrivateJwk(JWK, undefined, KID)).toBe(JWK);
    expect(openPrivateJwk(JWK, MASTER, KID)).toBe(JWK);
  });

  it("refuses a sealed key without a master key", () => {
    const sealed = sealPrivateJwk(JWK, MASTER, KID);
    expect(problem(() => openPrivateJwk(sealed, undefined, KID))).toBe("MASTER_KEY_MISSING");
  });

  it("refuses the wrong master key", () => {
    const sealed = sealPrivateJwk(JWK, MASTER, KID);
    expect(problem(() => openPrivateJwk(sealed, randomBytes(32), KID))).toBe("KEY_UNDECRYPTABLE");
  });

  it("refuses an altered iv, tag or ciphertext", () => {
    const sealed = sealPrivateJwk(JWK, MASTER, KID);
    for (const part of [0, 1, 2]) {
      expect(problem(() => openPrivateJwk(flip(sealed, part), MASTER, KID))).toBe("KEY_UNDECRYPTABLE");
    }
  });

  it("refuses a sealed key moved to another kid", () => {
    const sealed = sealPrivateJwk(JWK, MASTER, "kid-2");
    expect(problem(() => openPrivateJwk(sealed, MASTER, KID))).toBe("KEY_UNDECRYPTABLE");
  });

  it("refuses a malformed sealed value", () => {
    for (const bad of ["enc:v1:", "enc:v1:a:b", "enc:v1:AAAA:BBBB:CCCC", "enc:v1:a:b:c:d"]) {
      expect(problem(() => openPrivateJwk(bad, MASTER, KID))).toBe("KEY_MALFORMED");
    }
  });

  it("refuses a master key that is not 32 bytes", () => {
    expect(problem(() => sealPrivateJwk(JWK, randomBytes(16), KID))).toBe("MASTER_KEY_INVALID");
    const sealed = sealPrivateJwk(JWK, MASTER, KID);
    expect(problem(() => openPrivateJwk(sealed, randomBytes(31), KID))).toBe("MASTER_KEY_INVALID");
  });
});
