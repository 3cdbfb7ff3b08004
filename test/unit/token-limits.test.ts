import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_TOKEN_BYTES, TokenVerifier } from "../../src/auth/token-verifier.js";
import { TesseraError } from "../../src/domain/errors.js";
import { LIMITS } from "../../src/domain/limits.js";
import { AUDIENCE, CONTENT, ISSUER, type Kit, openKit, T0, TOLERANCE } from "./token-kit.js";

let kit: Kit;
beforeAll(async () => {
  kit = await openKit();
});
afterAll(() => kit.close());

/** A verifier on the kit's ring whose cache may hold `cacheMaxBytes`. */
const verifier = (cacheMaxBytes?: number) =>
  new TokenVerifier(kit.ring, {
    issuer: ISSUER,
    audience: AUDIENCE,
    clockToleranceSeconds: TOLERANCE,
    now: kit.clock.now,
    cacheMaxBytes,
  });

/** A valid token of about `bytes` bytes (its tag is sized to get there). */
const tokenOf = async (bytes: number, i: number) =>
  (
    await kit.signer.sign(
      { ...CONTENT, tags: [`${i}-${"x".repeat(Math.floor(bytes * 0.75) - 300)}`] },
      T0,
      600,
    )
  ).token;

describe("the verified-token cache (issue 9, finding 13)", () => {
  it("is bounded by estimated bytes by default, not only by count", () => {
    expect(verifier().cacheStats()).toEqual({ entries: 0, bytes: 0, maxBytes: LIMITS.tokenCacheBytes });
  });

  it("evicts the oldest entries to stay within its byte bound, whatever the entry count", async () => {
    const v = verifier(64 * 1024);
    const tokens: string[] = [];
    for (let i = 0; i < 20; i++) {
      const token = await tokenOf(7900, i);
      expect(token.length).toBeLessThanOrEqual(MAX_TOKEN_BYTES);
      tokens.push(token);
      await v.verify(token);
      expect(v.cacheStats().bytes).toBeLessThanOrEqual(64 * 1024);
    }
    // About 8.4 KB each: seven fit in 64 KiB, so the 13 oldest were evicted.
    expect(v.cacheStats().entries).toBe(7);
    expect(v.verifyNow(tokens[0] as string)).toBeUndefined();
    expect(v.verifyNow(tokens[12] as string)).toBeUndefined();
    expect(v.verifyNow(tokens[13] as string)).toBeDefined();
    expect(v.verifyNow(tokens[19] as string)).toBeDefined();
  });

  it("counts an entry once when the same token is verified again, and forgets an expired one", async () => {
    const v = verifier();
    const token = await tokenOf(1000, 0);
    await Promise.all([v.verify(token), v.verify(token)]);
    const once = v.cacheStats();
    expect(once.entries).toBe(1);
    await v.verify(token);
    expect(v.cacheStats()).toEqual(once);
    kit.clock.sec = T0 + 600 + TOLERANCE;
    expect(() => v.verifyNow(token)).toThrow(TesseraError);
    expect(v.cacheStats()).toMatchObject({ entries: 0, bytes: 0 });
    kit.clock.sec = T0;
  });
});

describe("minting (issue 9, finding 13)", () => {
  it("refuses claims whose token would exceed what verification accepts, before signing", async () => {
    let err: unknown;
    try {
      await kit.signer.sign({ ...CONTENT, tags: ["x".repeat(6200)] }, T0, 60);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TesseraError);
    expect(err).toMatchObject({ reason: "CLAIMS_TOO_LARGE", kind: "invalid_argument" });
    expect((err as TesseraError).details.limit).toBe(String(MAX_TOKEN_BYTES));
  });

  it("still signs a token just under the limit", async () => {
    const { token } = await kit.signer.sign({ ...CONTENT, tags: ["x".repeat(5700)] }, T0, 60);
    expect(token.length).toBeLessThanOrEqual(MAX_TOKEN_BYTES);
    await expect(verifier().verify(token)).resolves.toBeDefined();
  });
});
