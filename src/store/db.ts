import { AsyncLocalStorage } from "node:async_hooks";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { MIGRATIONS } from "./migrations/index.js";

export type Db = Database.Database;

/** The database file inside a data directory. */
export function databasePath(dataDir: string): string {
  return join(dataDir, "tessera.db");
}

/**
 * Opens (creating if needed) the database in `dataDir`: WAL, foreign keys on,
 * `synchronous = FULL` so an acknowledged write survives a crash, and every pending
 * migration applied in one transaction each.
 */
export function openDatabase(dataDir: string): Db {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  restrictToOwner(databasePath(dataDir));
  const db = new Database(databasePath(dataDir));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  migrate(db);
  return db;
}

/**
 * The database holds digests, password hashes and (without a master key) signing keys: it is
 * readable by its owner only. Created 0600 before SQLite opens it (SQLite gives its -wal and
 * -shm files the database file's mode), and tightened when an older install left it wider.
 */
function restrictToOwner(path: string): void {
  if (!existsSync(path)) closeSync(openSync(path, "a", 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    if (existsSync(file)) chmodSync(file, 0o600);
  }
}

/**
 * A second connection for append-heavy logs: WAL with `synchronous = NORMAL` (no fsync per
 * commit: a commit survives a process crash, not a power loss or an OS crash), or FULL when
 * `fsyncEachCommit` (the decision log's sync durability: survives those too).
 */
export function openLogConnection(dataDir: string, opts: { fsyncEachCommit?: boolean | undefined } = {}): Db {
  const db = new Database(databasePath(dataDir));
  db.pragma("journal_mode = WAL");
  db.pragma(opts.fsyncEachCommit ? "synchronous = FULL" : "synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  return db;
}

/** Applies migrations newer than the database's `user_version`. */
export function migrate(db: Db): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  for (const m of MIGRATIONS) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    })();
  }
}

/** The connection whose async transaction the current call runs in (nested calls join it). */
const insideTransaction = new AsyncLocalStorage<Db>();
/** Per connection: the end of the last async transaction begun on it (they run one at a time). */
const lastTransaction = new WeakMap<Db, Promise<unknown>>();

/**
 * Runs `fn` inside BEGIN IMMEDIATE … COMMIT (ROLLBACK when it throws), for the transactions the
 * core writes once for both backends (`await repo.transaction(async () => …)`). A synchronous
 * `fn` commits before this returns, as better-sqlite3's own transactions do. An async one only
 * ever waits for SQLite calls that answer at once, so no I/O or timer runs inside it; two of
 * them on one connection still run one after the other (the second would otherwise join the
 * first's transaction), and a call made inside one joins it.
 */
export async function immediateAsync<T>(db: Db, fn: () => T | Promise<T>): Promise<T> {
  if (insideTransaction.getStore() === db) return fn();
  const before = lastTransaction.get(db);
  let done = () => {};
  const mine = new Promise<void>((resolve) => {
    done = resolve;
  });
  lastTransaction.set(db, before ? before.then(() => mine) : mine);
  try {
    if (before) await before;
    return await insideTransaction.run(db, () => {
      db.exec("BEGIN IMMEDIATE");
      const rollback = (err: unknown): never => {
        if (db.inTransaction) db.exec("ROLLBACK");
        throw err;
      };
      let result: T | Promise<T>;
      try {
        result = fn();
      } catch (err) {
        return rollback(err);
      }
      if (!(result instanceof Promise)) {
        db.exec("COMMIT");
        return result;
      }
      return result.then((value) => {
        db.exec("COMMIT");
        return value;
      }, rollback);
    });
  } finally {
    done();
  }
}
