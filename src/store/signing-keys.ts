import { AdminAuditLog, type AuditChange } from "./admin-audit.js";
import { ChangeLog } from "./changes.js";
import { type Db, immediateAsync } from "./db.js";

/** next: published, not yet signing; active: signing; retired: published until its tokens expire. */
export type SigningKeyState = "next" | "active" | "retired";

export interface SigningKeyRow {
  readonly kid: string;
  readonly alg: string;
  /** The published JWK (with kid, alg, use). */
  readonly publicJwk: string;
  /** The private JWK, sealed with the master key when one is configured (see auth/master-key). */
  readonly privateJwk: string;
  readonly state: SigningKeyState;
  /** Seconds since the epoch. */
  readonly createdAt: number;
  /** Retired keys: when they leave the JWKS (seconds since the epoch). */
  readonly publishedUntil?: number | undefined;
}

/** A signing_keys row as stored (both backends). */
export interface SigningKeyDbRow {
  kid: string;
  alg: string;
  public_jwk: string;
  private_jwk: string;
  state: SigningKeyState;
  created_at: number;
  published_until: number | null;
}

/** A stored row as the repository answers it (both backends). */
export function signingKeyOf(r: SigningKeyDbRow): SigningKeyRow {
  return {
    kid: r.kid,
    alg: r.alg,
    publicJwk: r.public_jwk,
    privateJwk: r.private_jwk,
    state: r.state,
    createdAt: r.created_at,
    publishedUntil: r.published_until ?? undefined,
  };
}

/**
 * The audit record of a "keys" change: server-wide state (no org), the key ids and states
 * after the change, never key material.
 */
export function keysAuditChange(keys: readonly SigningKeyRow[]): AuditChange {
  return {
    orgId: null,
    action: "signing_keys.change",
    targetKind: "signing_keys",
    targetId: "",
    after: { keys: keys.map((k) => `${k.kid}:${k.state}`) },
  };
}

/** Token signing keys. Every change is made by KeyRing inside `transaction`. */
export class SigningKeyRepository {
  private readonly changes: ChangeLog;
  private readonly audit: AdminAuditLog;

  constructor(private readonly db: Db) {
    this.changes = new ChangeLog(db);
    this.audit = new AdminAuditLog(db);
  }

  /**
   * Runs `fn` in one transaction begun with BEGIN IMMEDIATE: the write lock is taken before
   * `fn` reads, so two processes deciding "is there an active key?" never both answer no.
   */
  transaction<T>(fn: () => T | Promise<T>): Promise<T> {
    return immediateAsync(this.db, fn);
  }

  insert(k: SigningKeyRow): void {
    this.db
      .prepare(
        `INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, state, created_at, published_until)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(k.kid, k.alg, k.publicJwk, k.privateJwk, k.state, k.createdAt, k.publishedUntil ?? null);
  }

  /** Every key, oldest first. */
  all(): SigningKeyRow[] {
    return this.db
      .prepare<[], SigningKeyDbRow>("SELECT * FROM signing_keys ORDER BY created_at, kid")
      .all()
      .map(signingKeyOf);
  }

  /** The keys in one state, oldest first. */
  inState(state: SigningKeyState): SigningKeyRow[] {
    return this.db
      .prepare<[SigningKeyState], SigningKeyDbRow>(
        "SELECT * FROM signing_keys WHERE state = ? ORDER BY created_at, kid",
      )
      .all(state)
      .map(signingKeyOf);
  }

  /** Moves a key to `state` (retired keys get their `publishedUntil`). */
  setState(kid: string, state: SigningKeyState, publishedUntil?: number): void {
    this.db
      .prepare("UPDATE signing_keys SET state = ?, published_until = ? WHERE kid = ?")
      .run(state, publishedUntil ?? null, kid);
  }

  /** Replaces a key's stored private half (sealing a development key, or erasing a retired one). */
  setPrivateJwk(kid: string, privateJwk: string): void {
    this.db.prepare("UPDATE signing_keys SET private_jwk = ? WHERE kid = ?").run(privateJwk, kid);
  }

  /**
   * Gives retired keys that have no end of publication (retired before the column existed)
   * one, so they are published for a full token lifetime from now and then dropped.
   */
  bound(publishedUntil: number): number {
    return this.db
      .prepare(
        "UPDATE signing_keys SET published_until = ? WHERE state = 'retired' AND published_until IS NULL",
      )
      .run(publishedUntil).changes;
  }

  /** Deletes retired keys no longer published at `nowSec`; returns how many. */
  deleteExpired(nowSec: number): number {
    return this.db
      .prepare("DELETE FROM signing_keys WHERE state = 'retired' AND published_until <= ?")
      .run(nowSec).changes;
  }

  /** Records a "keys" change (call inside the transaction): other processes reload their rings. */
  recordChange(): void {
    this.changes.record("keys", null);
    this.audit.record(keysAuditChange(this.all()));
  }
}
