import { importJWK, type JWK } from "jose";
import { TesseraError } from "../domain/errors.js";
import { epochSeconds } from "../domain/time.js";
import type { Async } from "../store/contract/async.js";
import type { SigningKeyRepository, SigningKeyRow } from "../store/signing-keys.js";
import { generateSigningKey, isSealed, openSigningKey, sealPrivateJwk } from "./master-key.js";

/** The default signing algorithm. Each key still verifies only its own alg, never the header's. */
export const SIGNING_ALG = "EdDSA";

/** The algorithms a new signing key may use. */
export type SigningAlg = "EdDSA" | "ES256";

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

/** A published public key, looked up by `kid`. */
export interface VerificationKey {
  readonly kid: string;
  readonly alg: string;
  readonly key: JoseKey;
  readonly publicJwk: JWK;
}

/** The active key: signs new tokens. */
export interface SigningKey extends VerificationKey {
  readonly privateKey: JoseKey;
}

export interface KeyRingOptions {
  readonly now: () => Date;
  /** The algorithm of newly generated keys; existing keys keep theirs. */
  readonly alg: SigningAlg;
  /** 32 bytes: seals private keys at rest. Without it they are stored in clear (development). */
  readonly masterKey?: Buffer | undefined;
  /** How long a retired key stays published: the longest token lifetime plus clock tolerance. */
  readonly retireAfterSeconds: number;
  /** `rotateIfDue` rotates once the active key has signed this long; 0 = never. */
  readonly rotationIntervalSeconds: number;
}

/** For `open(repo, now)`: the server's default settings (1h max token TTL + 10s tolerance). */
const DEFAULTS = { alg: "EdDSA", retireAfterSeconds: 3610, rotationIntervalSeconds: 0 } as const;

interface Published {
  readonly key: VerificationKey;
  readonly until: number | undefined;
}

/** What one reload produced; replaced as a whole so readers never see half a rotation. */
interface Loaded {
  readonly byKid: ReadonlyMap<string, Published>;
  readonly active: SigningKey | undefined;
  /** When the current next key was created, which is when the active key started signing. */
  readonly rotatedAt: number;
}

/** Whether a key is still published at `now` (only retired keys have an end). */
const published = (until: number | undefined, now: number): boolean => until === undefined || until > now;

/**
 * The server's token keys: one active key signs; the next key (published before it ever signs,
 * so caches of the JWKS already hold it), the active one and retired ones still within their
 * tokens' lifetime are published and found by exact `kid` lookup (never a path or a query).
 */
export class KeyRing {
  private loaded: Loaded = { byKid: new Map(), active: undefined, rotatedAt: 0 };
  private loads = 0;

  private constructor(
    private readonly repo: Async<SigningKeyRepository>,
    private readonly opts: KeyRingOptions,
  ) {}

  /**
   * Loads the stored keys, first making sure there is exactly one active and one next key.
   * Rejects with a MasterKeyError (naming the kid) when a private key cannot be opened.
   * The `now` form uses the defaults (EdDSA, no master key, no scheduled rotation).
   */
  static async open(
    repo: Async<SigningKeyRepository>,
    options: KeyRingOptions | (() => Date),
  ): Promise<KeyRing> {
    const opts = typeof options === "function" ? { ...DEFAULTS, now: options } : options;
    const ring = new KeyRing(repo, opts);
    await ring.ensure();
    await ring.reload();
    return ring;
  }

  private nowSec(): number {
    return epochSeconds(this.opts.now());
  }

  private generate(state: "next" | "active"): Promise<SigningKeyRow> {
    return generateSigningKey(this.opts.alg, this.opts.masterKey, state, this.nowSec());
  }

  /** Creates what is missing and tidies the table; the decisions are re-made under the write lock. */
  private async ensure(): Promise<void> {
    const r = this.repo;
    const complete = (await r.inState("active")).length > 0 && (await r.inState("next")).length > 0;
    // Keys are generated before the transaction: generation is async, a transaction is not.
    const spare = complete ? [] : [await this.generate("active"), await this.generate("next")];
    const now = this.nowSec();
    await r.transaction(async () => {
      let changed = false;
      if ((await r.inState("active")).length === 0) {
        const next = (await r.inState("next"))[0];
        if (next) await r.setState(next.kid, "active");
        else await r.insert(spare[0] as SigningKeyRow);
        changed = true;
      }
      if ((await r.inState("next")).length === 0) {
        await r.insert(spare[1] as SigningKeyRow);
        changed = true;
      }
      for (const row of await r.all()) {
        // A retired key never signs again: its private half is only a liability.
        if (row.state === "retired" && row.privateJwk !== "") await r.setPrivateJwk(row.kid, "");
        // A master key configured after development: seal the keys stored in clear.
        else if (row.state !== "retired" && this.opts.masterKey && !isSealed(row.privateJwk)) {
          await r.setPrivateJwk(row.kid, sealPrivateJwk(row.privateJwk, this.opts.masterKey, row.kid));
        }
      }
      const tidied = (await r.bound(now + this.opts.retireAfterSeconds)) + (await r.deleteExpired(now));
      if (tidied > 0 || changed) await r.recordChange();
    });
  }

  /** Re-reads the keys from the store (another process rotated them) and swaps them in at once. */
  async reload(): Promise<void> {
    const load = ++this.loads;
    const now = this.nowSec();
    const byKid = new Map<string, Published>();
    let active: SigningKey | undefined;
    let rotatedAt = 0;
    for (const row of await this.repo.all()) {
      if (!published(row.publishedUntil, now)) continue;
      const publicJwk = JSON.parse(row.publicJwk) as JWK;
      const key = { kid: row.kid, alg: row.alg, key: await importJWK(publicJwk, row.alg), publicJwk };
      byKid.set(row.kid, { key, until: row.publishedUntil });
      // The next key is opened too, so a bad master key fails now rather than at rotation.
      if (row.state === "retired") continue;
      const privateKey = await openSigningKey(row, publicJwk, this.opts.masterKey);
      if (row.state === "active") active = { ...key, privateKey };
      else rotatedAt = Math.max(rotatedAt, row.createdAt);
    }
    // Reloads may overlap (a rotation and a change poll): only the newest one lands.
    if (load === this.loads) this.loaded = { byKid, active, rotatedAt };
  }

  /**
   * Rotates: the published next key starts signing, the active one retires (published until
   * its last token expires), and a new next key is published. Records a "keys" change.
   */
  async rotate(): Promise<SigningKeyInfo[]> {
    await this.rotateWhen(() => true);
    return this.list();
  }

  /**
   * How long the active key has signed (seconds), and how long until `rotateIfDue` rotates it
   * (undefined when rotation is off; negative when overdue).
   */
  stats(): { readonly activeAgeSeconds: number; readonly nextRotationSeconds: number | undefined } {
    const age = this.nowSec() - this.loaded.rotatedAt;
    const every = this.opts.rotationIntervalSeconds;
    return { activeAgeSeconds: age, nextRotationSeconds: every > 0 ? every - age : undefined };
  }

  /**
   * Rotates when the active key has signed for `rotationIntervalSeconds` (never when 0). The
   * age is re-checked under the write lock, so processes calling this together rotate once.
   */
  async rotateIfDue(): Promise<boolean> {
    const every = this.opts.rotationIntervalSeconds;
    if (every <= 0 || this.nowSec() - this.loaded.rotatedAt < every) return false;
    const lastRotation = async () =>
      Math.max(0, ...(await this.repo.inState("next")).map((k) => k.createdAt));
    return this.rotateWhen(async () => this.nowSec() - (await lastRotation()) >= every);
  }

  private async rotateWhen(due: () => boolean | Promise<boolean>): Promise<boolean> {
    const fresh = await this.generate("next");
    const now = this.nowSec();
    const r = this.repo;
    const rotated = (await r.transaction(async () => {
      if (!(await due())) return false;
      const next = (await r.inState("next"))[0];
      if (!next) throw new TesseraError("NO_SIGNING_KEY", "no next key is published to take over");
      for (const old of await r.inState("active")) {
        await r.setState(old.kid, "retired", now + this.opts.retireAfterSeconds);
        await r.setPrivateJwk(old.kid, "");
      }
      await r.setState(next.kid, "active");
      await r.insert(fresh);
      await r.deleteExpired(now);
      await r.recordChange();
      return true;
    })) as boolean; // Async<> drops transaction's type parameter
    if (rotated) await this.reload();
    return rotated;
  }

  /** The key that signs new tokens. */
  signingKey(): SigningKey {
    const active = this.loaded.active;
    if (!active) throw new TesseraError("NO_SIGNING_KEY", "no signing key is active");
    return active;
  }

  /** The published key with exactly this `kid`, if any (a retired key only until its end). */
  find(kid: string): VerificationKey | undefined {
    const p = this.loaded.byKid.get(kid);
    return p && published(p.until, this.nowSec()) ? p.key : undefined;
  }

  /** Every key in the store and its state, read fresh; retired keys past their end are gone. */
  async list(): Promise<SigningKeyInfo[]> {
    const now = this.nowSec();
    return (await this.repo.all())
      .filter((r) => published(r.publishedUntil, now))
      .map(({ kid, alg, state, createdAt, publishedUntil }) => ({
        kid,
        alg,
        state,
        createdAt,
        publishedUntil,
      }));
  }

  /** The published keys (next, active, retired within their tokens' lifetime), as a JWKS `keys` array. */
  jwks(): JWK[] {
    const now = this.nowSec();
    return [...this.loaded.byKid.values()].filter((p) => published(p.until, now)).map((p) => p.key.publicJwk);
  }
}
