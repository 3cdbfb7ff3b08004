import { webcrypto } from "node:crypto";
import { expect } from "vitest";
import { KeyRing } from "../../src/auth/key-ring.js";
import type { AccessClaims } from "../../src/auth/token-claims.js";
import { TokenSigner } from "../../src/auth/token-signer.js";
import { TokenVerifier } from "../../src/auth/token-verifier.js";
import { type ErrorReason, TesseraError } from "../../src/domain/errors.js";
import { openStore } from "../../src/store/store.js";
import { tempDir } from "../helpers/server.js";

export const ISSUER = "https://tessera.test";
export const AUDIENCE = "agents";
export const TOLERANCE = 10;
/** 2023-11-14T22:13:20Z: a fixed start, so no test depends on the real clock. */
export const T0 = 1_700_000_000;

type CryptoKey = webcrypto.CryptoKey;

/** A clock the test moves by hand. */
export class Clock {
  constructor(public sec = T0) {}
  readonly now = (): Date => new Date(this.sec * 1000);
}

/** A key ring over a real store in a temp dir, with a signer and a verifier factory. */
export interface Kit {
  readonly ring: KeyRing;
  readonly clock: Clock;
  readonly signer: TokenSigner;
  /** A fresh verifier (empty cache) on the kit's clock. */
  verifier(opts?: { tolerance?: number }): TokenVerifier;
  close(): void;
}

export async function openKit(): Promise<Kit> {
  const tmp = tempDir("tessera-unit-");
  const store = openStore(tmp.dir);
  const clock = new Clock();
  const ring = await KeyRing.open(store.signingKeys, clock.now);
  return {
    ring,
    clock,
    signer: new TokenSigner(ring, ISSUER),
    verifier: (opts = {}) =>
      new TokenVerifier(ring, {
        issuer: ISSUER,
        audience: AUDIENCE,
        clockToleranceSeconds: opts.tolerance ?? TOLERANCE,
        now: clock.now,
      }),
    close() {
      void store.close();
      tmp.cleanup();
    },
  };
}

/** What TokenSigner puts in a token besides the time claims. */
export const CONTENT = {
  aud: AUDIENCE,
  sub: "agt_unit",
  org: "org_unit",
  name: "unit-agent",
  tier: "verified",
  roles: ["operator"],
  scopes: ["governance:propose"],
  tags: ["team=unit"],
} as const satisfies Omit<AccessClaims, "iat" | "nbf" | "exp" | "jti" | "iss">;

/** A full, valid claims set issued at `sec`, with overrides (undefined removes a claim). */
export function claimsAt(sec: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const all: Record<string, unknown> = {
    ...CONTENT,
    iss: ISSUER,
    iat: sec,
    nbf: sec,
    exp: sec + 300,
    jti: "6a1f3c1e-0000-4000-8000-000000000001",
    ...overrides,
  };
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined));
}

export const b64 = (data: string | Uint8Array): string => Buffer.from(data).toString("base64url");

/**
 * A compact JWS built by hand, so headers and payloads can be exactly the bytes a test needs
 * (duplicate keys, odd types). Objects are JSON-encoded; strings are used as they are.
 */
export async function handMade(
  header: object | string,
  payload: object | string,
  key: CryptoKey,
): Promise<string> {
  const text = (v: object | string) => (typeof v === "string" ? v : JSON.stringify(v));
  const input = `${b64(text(header))}.${b64(text(payload))}`;
  const sig = await webcrypto.subtle.sign("Ed25519", key, Buffer.from(input));
  return `${input}.${b64(new Uint8Array(sig))}`;
}

/** The ring's private signing key as a WebCrypto key. */
export function privateKeyOf(ring: KeyRing): CryptoKey {
  return ring.signingKey().privateKey as CryptoKey;
}

/** The error `promise` rejects with, asserting it is a TesseraError. */
export async function refusal(promise: Promise<unknown>): Promise<TesseraError> {
  let err: unknown;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  expect(err, "expected the token to be refused").toBeInstanceOf(TesseraError);
  const te = err as TesseraError;
  expect(te.kind).toBe("unauthenticated");
  return te;
}

/** Asserts `promise` is refused with `reason` (or one of several). */
export async function expectRefused(promise: Promise<unknown>, ...reasons: ErrorReason[]): Promise<void> {
  const err = await refusal(promise);
  expect(reasons).toContain(err.reason);
}
