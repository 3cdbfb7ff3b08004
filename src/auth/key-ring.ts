import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import { TesseraError } from "../domain/errors.js";
import type { SigningKeyRepository } from "../store/signing-keys.js";

/** The one algorithm a key may verify: pinned per key, never taken from a token header. */
export const SIGNING_ALG = "EdDSA";

/** A key object as jose imports and generates them. */
type JoseKey = Awaited<ReturnType<typeof importJWK>>;

/** A signing key as the admin plane lists it. */
export interface SigningKeyInfo {
  readonly kid: string;
  readonly alg: string;
  readonly state: "next" | "active" | "retired";
  /** Seconds since the epoch. */
  readonly createdAt: number;
  /** For retired keys: when they leave the JWKS (seconds since the epoch). */
  readonly publishedUntil?: number | undefined;
}

export interface VerificationKey {
  readonly kid: string;
  readonly alg: string;
  readonly key: JoseKey;
  readonly publicJwk: JWK;
}

interface SigningKey extends VerificationKey {
  readonly privateKey: JoseKey;
}

/**
 * The server's token keys: one active signing key, and every published key by `kid`
 * (an exact map lookup, so a `kid` can never be a path or a query).
 */
export class KeyRing {
  private readonly byKid = new Map<string, VerificationKey>();
  private active: SigningKey | undefined;

  private constructor(private readonly repo: SigningKeyRepository) {}

  /** Loads the stored keys, generating the first signing key when there is none. */
  static async open(repo: SigningKeyRepository, now: () => Date): Promise<KeyRing> {
    const ring = new KeyRing(repo);
    for (const row of repo.all()) {
      const publicJwk = JSON.parse(row.publicJwk) as JWK;
      const key: VerificationKey = {
        kid: row.kid,
        alg: row.alg,
        key: await importJWK(publicJwk, row.alg),
        publicJwk,
      };
      ring.byKid.set(row.kid, key);
      if (row.state === "active") {
        ring.active = { ...key, privateKey: await importJWK(JSON.parse(row.privateJwk) as JWK, row.alg) };
      }
    }
    if (!ring.active) await ring.generate(now);
    return ring;
  }

  private async generate(now: () => Date): Promise<void> {
    const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const published: JWK = { ...publicJwk, kid, alg: SIGNING_ALG, use: "sig" };
    this.repo.insert({
      kid,
      alg: SIGNING_ALG,
      publicJwk: JSON.stringify(published),
      privateJwk: JSON.stringify(await exportJWK(privateKey)),
      state: "active",
      createdAt: Math.floor(now().getTime() / 1000),
    });
    const key = { kid, alg: SIGNING_ALG, key: publicKey, publicJwk: published };
    this.byKid.set(kid, key);
    this.active = { ...key, privateKey };
  }

  /** The key that signs new tokens. */
  signingKey(): SigningKey {
    if (!this.active) throw new TesseraError("NO_SIGNING_KEY", "no signing key is active");
    return this.active;
  }

  /** The published key with exactly this `kid`, if any. */
  find(kid: string): VerificationKey | undefined {
    return this.byKid.get(kid);
  }

  /** Every key and its state (next, active, retired), for the admin plane. */
  list(): SigningKeyInfo[] {
    throw new TesseraError("NOT_IMPLEMENTED", "key listing is not implemented yet");
  }

  /**
   * Rotates: the published next key starts signing, the active one retires (published until
   * its last token expires), and a new next key is published. Records a "keys" change.
   */
  async rotate(): Promise<SigningKeyInfo[]> {
    throw new TesseraError("NOT_IMPLEMENTED", "key rotation is not implemented yet");
  }

  /** Re-reads the keys from the store (another process rotated them). */
  async reload(): Promise<void> {
    throw new TesseraError("NOT_IMPLEMENTED", "key reload is not implemented yet");
  }

  /** The public keys, as a JWKS `keys` array. */
  jwks(): JWK[] {
    return [...this.byKid.values()].map((k) => k.publicJwk);
  }
}
