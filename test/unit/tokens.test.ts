import { decodeProtectedHeader, SignJWT } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { SIGNING_ALG } from "../../src/auth/key-ring.js";
import type { AccessClaims } from "../../src/auth/token-claims.js";
import { ACCESS_TOKEN_TYP } from "../../src/auth/token-claims.js";
import { MAX_TOKEN_BYTES, TokenVerifier } from "../../src/auth/token-verifier.js";
import { type ErrorReason, TesseraError } from "../../src/domain/errors.js";
import {
  AUDIENCE,
  b64,
  CONTENT,
  claimsAt,
  expectRefused,
  ISSUER,
  type Kit,
  openKit,
  privateKeyOf,
  T0,
  TOLERANCE,
} from "./token-kit.js";

let kit: Kit;
beforeAll(async () => {
  kit = await openKit();
});
afterAll(() => kit.close());
beforeEach(() => {
  kit.clock.sec = T0;
});

/** A token signed with the ring's real key and header, carrying exactly `claims`. */
const signed = (claims: Record<string, unknown>) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: SIGNING_ALG, kid: kit.ring.signingKey().kid, typ: ACCESS_TOKEN_TYP })
    .sign(privateKeyOf(kit.ring));

describe("signing and verifying", () => {
  it("verifies a signed token and round-trips its claims", async () => {
    const { token, claims } = await kit.signer.sign(CONTENT, T0, 600);
    expect(claims).toMatchObject({ ...CONTENT, iss: ISSUER, iat: T0, nbf: T0, exp: T0 + 600 });
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(await kit.verifier().verify(token)).toEqual(claims);
  });

  it("puts the active kid in the header and publishes it in the JWKS", async () => {
    const { token } = await kit.signer.sign(CONTENT, T0, 600);
    const header = decodeProtectedHeader(token);
    expect(header).toEqual({ alg: SIGNING_ALG, kid: kit.ring.signingKey().kid, typ: ACCESS_TOKEN_TYP });
    const published = kit.ring.jwks().find((k) => k.kid === header.kid);
    expect(published).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: SIGNING_ALG, use: "sig" });
    for (const k of kit.ring.jwks()) expect(k).not.toHaveProperty("d");
  });

  it("gives each token its own jti", async () => {
    const a = await kit.signer.sign(CONTENT, T0, 600);
    const b = await kit.signer.sign(CONTENT, T0, 600);
    expect(a.claims.jti).not.toBe(b.claims.jti);
  });
});

describe("tampering", () => {
  it("refuses a payload changed after signing", async () => {
    const { token } = await kit.signer.sign(CONTENT, T0, 600);
    const [h, , s] = token.split(".");
    const forged = `${h}.${b64(JSON.stringify(claimsAt(T0, { tier: "privileged" })))}.${s}`;
    await expectRefused(kit.verifier().verify(forged), "TOKEN_INVALID");
  });

  it("refuses an altered, stripped or truncated signature", async () => {
    const { token } = await kit.signer.sign(CONTENT, T0, 600);
    const [h, p, s = ""] = token.split(".");
    const mid = s.length >> 1;
    const altered = s.slice(0, mid) + (s[mid] === "A" ? "B" : "A") + s.slice(mid + 1);
    for (const sig of [altered, "", s.slice(0, -4), b64(new Uint8Array(64)), `${s}AAAA`]) {
      await expectRefused(kit.verifier().verify(`${h}.${p}.${sig}`), "TOKEN_INVALID", "TOKEN_MALFORMED");
    }
  });

  it.each([
    ["a missing segment", (t: string) => t.split(".").slice(0, 2).join(".")],
    ["only the header", (t: string) => t.split(".")[0] ?? ""],
    ["an extra empty segment", (t: string) => `${t}.`],
    ["an extra segment", (t: string) => `${t}.${t.split(".")[1]}`],
    ["five segments (JWE shape)", (t: string) => `${t}.AAAA.BBBB`],
  ])("refuses %s", async (_name, mangle) => {
    const { token } = await kit.signer.sign(CONTENT, T0, 600);
    await expectRefused(kit.verifier().verify(mangle(token)), "TOKEN_MALFORMED", "TOKEN_INVALID");
  });

  it.each(["", "not-a-jwt", "....", "a.b.c"])("refuses %j as malformed", async (token) => {
    await expectRefused(kit.verifier().verify(token), "TOKEN_MALFORMED");
  });
});

describe("time claims", () => {
  it("accepts a token up to the tolerance past exp, then expires it", async () => {
    const { token, claims } = await kit.signer.sign(CONTENT, T0, 60);
    for (const sec of [claims.exp - 1, claims.exp, claims.exp + TOLERANCE - 1]) {
      kit.clock.sec = sec;
      await expect(kit.verifier().verify(token)).resolves.toEqual(claims);
    }
    for (const sec of [claims.exp + TOLERANCE, claims.exp + 3600]) {
      kit.clock.sec = sec;
      await expectRefused(kit.verifier().verify(token), "TOKEN_EXPIRED");
    }
  });

  it("expires at exp itself when there is no tolerance", async () => {
    const { token, claims } = await kit.signer.sign(CONTENT, T0, 60);
    kit.clock.sec = claims.exp - 1;
    await expect(kit.verifier({ tolerance: 0 }).verify(token)).resolves.toEqual(claims);
    kit.clock.sec = claims.exp;
    await expectRefused(kit.verifier({ tolerance: 0 }).verify(token), "TOKEN_EXPIRED");
  });

  it("refuses nbf in the future beyond the tolerance", async () => {
    await expect(
      kit.verifier().verify(await signed(claimsAt(T0, { nbf: T0 + TOLERANCE }))),
    ).resolves.toBeDefined();
    await expectRefused(
      kit.verifier().verify(await signed(claimsAt(T0, { nbf: T0 + TOLERANCE + 1 }))),
      "TOKEN_INVALID",
    );
  });

  it("refuses iat in the future beyond the tolerance", async () => {
    await expect(
      kit.verifier().verify(await signed(claimsAt(T0, { iat: T0 + TOLERANCE }))),
    ).resolves.toBeDefined();
    await expectRefused(
      kit.verifier().verify(await signed(claimsAt(T0, { iat: T0 + TOLERANCE + 1 }))),
      "TOKEN_INVALID",
    );
  });

  it.each([
    ["exp as a string", { exp: String(T0 + 300) }],
    ["nbf as a string", { nbf: String(T0) }],
    ["iat as a fraction", { iat: T0 + 0.5 }],
    ["no exp", { exp: undefined }],
    ["no iat", { iat: undefined }],
    ["no nbf", { nbf: undefined }],
  ])("refuses %s", async (_name, overrides) => {
    await expectRefused(kit.verifier().verify(await signed(claimsAt(T0, overrides))), "TOKEN_INVALID");
  });

  it("still expires a token it has cached", async () => {
    const { token, claims } = await kit.signer.sign(CONTENT, T0, 60);
    const verifier = kit.verifier();
    await expect(verifier.verify(token)).resolves.toEqual(claims);
    kit.clock.sec = claims.exp + TOLERANCE - 1;
    await expect(verifier.verify(token)).resolves.toEqual(claims);
    kit.clock.sec = claims.exp + TOLERANCE;
    await expectRefused(verifier.verify(token), "TOKEN_EXPIRED");
    await expectRefused(verifier.verify(token), "TOKEN_EXPIRED");
  });
});

describe("claims and size", () => {
  it.each([
    ["an unknown tier", { tier: "root" }],
    ["roles that are not a list", { roles: "admin" }],
    ["scopes holding a number", { scopes: [1] }],
    ["no jti", { jti: undefined }],
    ["no sub", { sub: undefined }],
    ["no org", { org: undefined }],
  ])("refuses a correctly signed token with %s", async (_name, overrides) => {
    await expectRefused(kit.verifier().verify(await signed(claimsAt(T0, overrides))), "TOKEN_INVALID");
  });

  it("refuses a token over 8 KiB before parsing it", async () => {
    expect(MAX_TOKEN_BYTES).toBe(8192);
    await expectRefused(kit.verifier().verify("a".repeat(MAX_TOKEN_BYTES + 1)), "TOKEN_TOO_LARGE");
    // Signed by hand with the real key: the signer itself refuses claims this large.
    const token = await signed(claimsAt(T0, { tags: ["x".repeat(7000)] }));
    await expectRefused(kit.verifier().verify(token), "TOKEN_TOO_LARGE");
  });

  it("accepts a valid token of exactly 8 KiB", async () => {
    const withTag = async (n: number) =>
      (await kit.signer.sign({ ...CONTENT, tags: ["x".repeat(n)] }, T0, 60)).token;
    // Each 3 tag characters add 4 token characters; aim just below and step up to the limit.
    const start = 5000 + Math.floor(((MAX_TOKEN_BYTES - (await withTag(5000)).length) * 3) / 4) - 3;
    let token = "";
    for (let n = start; n < start + 8 && token.length !== MAX_TOKEN_BYTES; n++) token = await withTag(n);
    expect(token).toHaveLength(MAX_TOKEN_BYTES);
    await expect(kit.verifier().verify(token)).resolves.toBeDefined();
  });
});

/** The reason a synchronous call is refused with; fails when it returns or throws something else. */
function refusedNow(fn: () => unknown): ErrorReason {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, "expected a synchronous refusal").toBeInstanceOf(TesseraError);
  return (err as TesseraError).reason;
}

describe("verifyNow: the cached answer, without a promise", () => {
  /** A verifier on the kit's clock with a liveness check that refuses the jtis in `revoked`. */
  const checked = (revoked: Set<string>, seen: AccessClaims[] = []) =>
    new TokenVerifier(kit.ring, {
      issuer: ISSUER,
      audience: AUDIENCE,
      clockToleranceSeconds: TOLERANCE,
      now: kit.clock.now,
      check: (claims) => {
        seen.push(claims);
        if (revoked.has(claims.jti)) throw new TesseraError("TOKEN_REVOKED", "the token was revoked");
      },
    });

  it("is undefined for a valid token this verifier has not verified", async () => {
    const { token } = await kit.signer.sign(CONTENT, T0, 60);
    const verifier = kit.verifier();
    expect(verifier.verifyNow(token)).toBeUndefined();
    // Another verifier's cache does not count.
    await kit.verifier().verify(token);
    expect(verifier.verifyNow(token)).toBeUndefined();
    // Nor does asking: verifyNow never verifies.
    expect(verifier.verifyNow(token)).toBeUndefined();
  });

  it("is undefined for a token that failed verification", async () => {
    const { token } = await kit.signer.sign(CONTENT, T0, 60);
    const [h, , s] = token.split(".");
    const forged = `${h}.${b64(JSON.stringify(claimsAt(T0, { tier: "privileged" })))}.${s}`;
    const verifier = kit.verifier();
    await expectRefused(verifier.verify(forged), "TOKEN_INVALID");
    expect(verifier.verifyNow(forged)).toBeUndefined();
  });

  it("returns the claims synchronously once verify has resolved", async () => {
    const { token, claims } = await kit.signer.sign(CONTENT, T0, 60);
    const verifier = kit.verifier();
    const verified = await verifier.verify(token);
    const now = verifier.verifyNow(token);
    expect(now).not.toBeInstanceOf(Promise);
    expect(now).toEqual(claims);
    expect(now).toEqual(verified);
    // A different token is still not known.
    const other = await kit.signer.sign(CONTENT, T0, 60);
    expect(verifier.verifyNow(other.token)).toBeUndefined();
  });

  it("throws TOKEN_EXPIRED once the clock reaches exp + tolerance, and never returns the claims after", async () => {
    const { token, claims } = await kit.signer.sign(CONTENT, T0, 60);
    const verifier = kit.verifier();
    await verifier.verify(token);
    kit.clock.sec = claims.exp + TOLERANCE - 1;
    expect(verifier.verifyNow(token)).toEqual(claims);
    kit.clock.sec = claims.exp + TOLERANCE;
    expect(refusedNow(() => verifier.verifyNow(token))).toBe("TOKEN_EXPIRED");
    // Later calls refuse it too, or leave it to verify (which refuses it): no claims either way.
    let again: AccessClaims | undefined;
    try {
      again = verifier.verifyNow(token);
    } catch (err) {
      expect(err).toBeInstanceOf(TesseraError);
      expect((err as TesseraError).reason).toBe("TOKEN_EXPIRED");
    }
    expect(again).toBeUndefined();
    await expectRefused(verifier.verify(token), "TOKEN_EXPIRED");
  });

  it("expires at exp itself when there is no tolerance", async () => {
    const { token, claims } = await kit.signer.sign(CONTENT, T0, 60);
    const verifier = kit.verifier({ tolerance: 0 });
    await verifier.verify(token);
    kit.clock.sec = claims.exp - 1;
    expect(verifier.verifyNow(token)).toEqual(claims);
    kit.clock.sec = claims.exp;
    expect(refusedNow(() => verifier.verifyNow(token))).toBe("TOKEN_EXPIRED");
  });

  it("runs the liveness check on every call and propagates its refusal", async () => {
    const { token, claims } = await kit.signer.sign(CONTENT, T0, 60);
    const revoked = new Set<string>();
    const seen: AccessClaims[] = [];
    const verifier = checked(revoked, seen);
    await expect(verifier.verify(token)).resolves.toEqual(claims);
    expect(seen).toHaveLength(1);
    expect(verifier.verifyNow(token)).toEqual(claims);
    expect(seen).toHaveLength(2);
    expect(seen[1]).toEqual(claims);
    revoked.add(claims.jti);
    expect(refusedNow(() => verifier.verifyNow(token))).toBe("TOKEN_REVOKED");
    expect(refusedNow(() => verifier.verifyNow(token))).toBe("TOKEN_REVOKED");
    await expectRefused(verifier.verify(token), "TOKEN_REVOKED");
    expect(seen).toHaveLength(5);
    // The check decides on each use: lifted, the token works again.
    revoked.delete(claims.jti);
    expect(verifier.verifyNow(token)).toEqual(claims);
  });

  it("refuses a token whose first verification was refused by the check", async () => {
    const { token, claims } = await kit.signer.sign(CONTENT, T0, 60);
    const revoked = new Set([claims.jti]);
    const verifier = checked(revoked);
    await expectRefused(verifier.verify(token), "TOKEN_REVOKED");
    // Whether or not the signature check was cached, the revoked token is never answered with claims.
    let now: AccessClaims | undefined;
    try {
      now = verifier.verifyNow(token);
    } catch (err) {
      expect(err).toBeInstanceOf(TesseraError);
      expect((err as TesseraError).reason).toBe("TOKEN_REVOKED");
    }
    expect(now).toBeUndefined();
    await expectRefused(verifier.verify(token), "TOKEN_REVOKED");
  });
});
