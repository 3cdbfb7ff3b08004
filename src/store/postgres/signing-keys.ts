import { AsyncLocalStorage } from "node:async_hooks";
import {
  keysAuditChange,
  type SigningKeyDbRow,
  type SigningKeyRow,
  type SigningKeyState,
  signingKeyOf,
} from "../signing-keys.js";
import { recordAudit, recordChange as recordChangeRow } from "./changes.js";
import type { PgDb, Sql } from "./pg-db.js";

/**
 * SigningKeyRepository on PostgreSQL: the same methods and rows, each answer a promise. The
 * methods called inside `transaction` (from its function, however deep in awaits) run in that
 * transaction; called anywhere else, each runs on its own.
 */
export class PgSigningKeyRepository {
  private readonly inTx = new AsyncLocalStorage<Sql>();

  constructor(private readonly db: PgDb) {}

  private get sql(): Sql {
    return this.inTx.getStore() ?? this.db;
  }

  /**
   * Runs `fn` in one transaction that first locks the signing_keys table against every other
   * writer (SHARE ROW EXCLUSIVE: it conflicts with itself and with INSERT/UPDATE/DELETE, not
   * with plain reads). As BEGIN IMMEDIATE on SQLite, the lock is taken before `fn` reads, so two
   * replicas deciding "is there an active key?" never both answer no: the second waits for
   * the first to commit and then reads its keys. Rows cannot serve (there may be none yet).
   * A call inside a transaction joins it.
   */
  async transaction<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.inTx.getStore()) return fn();
    return this.db.tx(async (sql) => {
      await sql.query("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE");
      return this.inTx.run(sql, fn);
    });
  }

  async insert(k: SigningKeyRow): Promise<void> {
    await this.sql.query(
      `INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, state, created_at, published_until)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [k.kid, k.alg, k.publicJwk, k.privateJwk, k.state, k.createdAt, k.publishedUntil ?? null],
    );
  }

  /** Every key, oldest first. */
  async all(): Promise<SigningKeyRow[]> {
    const rows = await this.sql.query<SigningKeyDbRow>(
      `SELECT * FROM signing_keys ORDER BY created_at, kid COLLATE "C"`,
    );
    return rows.map(signingKeyOf);
  }

  /** The keys in one state, oldest first. */
  async inState(state: SigningKeyState): Promise<SigningKeyRow[]> {
    const rows = await this.sql.query<SigningKeyDbRow>(
      `SELECT * FROM signing_keys WHERE state = $1 ORDER BY created_at, kid COLLATE "C"`,
      [state],
    );
    return rows.map(signingKeyOf);
  }

  /** Moves a key to `state` (retired keys get their `publishedUntil`). */
  async setState(kid: string, state: SigningKeyState, publishedUntil?: number): Promise<void> {
    await this.sql.query("UPDATE signing_keys SET state = $1, published_until = $2 WHERE kid = $3", [
      state,
      publishedUntil ?? null,
      kid,
    ]);
  }

  /** Replaces a key's stored private half (sealing a development key, or erasing a retired one). */
  async setPrivateJwk(kid: string, privateJwk: string): Promise<void> {
    await this.sql.query("UPDATE signing_keys SET private_jwk = $1 WHERE kid = $2", [privateJwk, kid]);
  }

  /** Gives retired keys without an end of publication one (see SigningKeyRepository.bound); returns how many. */
  async bound(publishedUntil: number): Promise<number> {
    const rows = await this.sql.query(
      `UPDATE signing_keys SET published_until = $1 WHERE state = 'retired' AND published_until IS NULL
       RETURNING kid`,
      [publishedUntil],
    );
    return rows.length;
  }

  /** Deletes retired keys no longer published at `nowSec`; returns how many. */
  async deleteExpired(nowSec: number): Promise<number> {
    const rows = await this.sql.query(
      "DELETE FROM signing_keys WHERE state = 'retired' AND published_until <= $1 RETURNING kid",
      [nowSec],
    );
    return rows.length;
  }

  /** Records a "keys" change and its audit row (call inside the transaction): other replicas reload their rings. */
  async recordChange(): Promise<void> {
    await recordChangeRow(this.sql, "keys", null);
    await recordAudit(this.sql, keysAuditChange(await this.all()));
  }
}
