// TokenSigner.signNow, MintToken's signer (issue #15): the compact JWS it assembles and signs
// with node:crypto must be what jose itself would have signed (same header, same claims, in
// the same order) and verify with jose, whatever the claims hold.
import fc from "fast-check";
import { compactVerify, decodeProtectedHeader, importJWK, jwtVerify, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TokenContent } from "../../src/auth/token-signer.js";
import { AUDIENCE, CONTENT, ISSUER, type Kit, openKit, T0 } from "./token-kit.js";

let kit: Kit;
beforeAll(async () => {
  kit = await openKit();
});
afterAll(() => kit.close());

/** The ring's public key as jose's verifiers take it (from the published JWKS). */
async function publicKey() {
  const { kid } = kit.ring.signingKey();
  const jwk = kit.ring.jwks().find((k) => k.kid === kid);
  return importJWK(jwk as Parameters<typeof importJWK>[0], "EdDSA");
}

const payloadOf = (token: string) =>
  JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>;

/** What jose's SignJWT makes of the same header and claims: the way tokens were signed before. */
async function joseToken(header: object, claims: object): Promise<string> {
  const { privateKey } = kit.ring.signingKey();
  return new SignJWT(claims as Record<string, unknown>)
    .setProtectedHeader(header as Parameters<SignJWT["setProtectedHeader"]>[0])
    .sign(privateKey as Parameters<SignJWT["sign"]>[0]);
}

describe("TokenSigner.signNow", () => {
  it("signs a token jose verifies, with the header and claims jose would have signed", async () => {
    const { token, claims } = kit.signer.signNow(CONTENT, T0, 600);
    const key = await publicKey();
    const verified = await jwtVerify(token, key, {
      issuer: ISSUER,
      audience: AUDIENCE,
      currentDate: new Date(T0 * 1000),
    });
    expect(verified.payload).toEqual(claims);
    expect(verified.protectedHeader).toEqual({ alg: "EdDSA", kid: kit.ring.signingKey().kid, typ: "at+jwt" });
    // Byte for byte: the same header and payload segments as jose's SignJWT, and Ed25519 is
    // deterministic, so the same signature too.
    const before = await joseToken(decodeProtectedHeader(token), claims);
    expect(token).toBe(before);
    expect(Object.keys(payloadOf(token))).toEqual([
      ...Object.keys(CONTENT),
      "iss",
      "iat",
      "nbf",
      "exp",
      "jti",
    ]);
  });

  it("gives the same token as the async sign, and a new jti each time", async () => {
    const a = kit.signer.signNow(CONTENT, T0, 60);
    const b = await kit.signer.sign(CONTENT, T0, 60);
    expect(a.claims.jti).not.toBe(b.claims.jti);
    expect({ ...a.claims, jti: "" }).toEqual({ ...b.claims, jti: "" });
    expect(a.token.split(".")[0]).toBe(b.token.split(".")[0]);
  });

  it("is verified by the server's own verifier", async () => {
    const { token, claims } = kit.signer.signNow(CONTENT, kit.clock.sec, 300);
    expect(await kit.verifier().verify(token)).toEqual(claims);
  });

  it("matches jose for any claims (non-ASCII names, tags, grants)", async () => {
    const key = await publicKey();
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          name: fc.string({ maxLength: 40 }),
          tags: fc.array(fc.string({ maxLength: 12 }), { maxLength: 4 }),
          scopes: fc.array(fc.stringMatching(/^[a-z]{1,8}:[a-z*]{1,8}$/), { minLength: 1, maxLength: 4 }),
          room: fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: undefined }),
          ttl: fc.integer({ min: 1, max: 86_400 }),
        }),
        async ({ name, tags, scopes, room, ttl }) => {
          const content: TokenContent = {
            ...CONTENT,
            name,
            tags,
            scopes,
            ...(room ? { grants: { room } } : {}),
          };
          const { token, claims } = kit.signer.signNow(content, T0, ttl);
          const { payload } = await compactVerify(token, key);
          expect(JSON.parse(Buffer.from(payload).toString("utf8"))).toEqual(claims);
          expect(token).toBe(await joseToken(decodeProtectedHeader(token), claims));
        },
      ),
      { numRuns: 50 },
    );
  });
});
