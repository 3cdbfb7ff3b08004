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

/**
 * Runs an async `fn` inside BEGIN IMMEDIATE … COMMIT (ROLLBACK when it throws), for the
 * transactions the core writes once for both backends (`await repo.transaction(async () => …)`).
 * Every SQLite call inside answers at once, so `fn`'s awaits only wait for microtasks: no I/O
 * or timer runs in the middle. A call already inside a transaction simply joins it.
 */
export async function immediateAsync<T>(db: Db, fn: () => T | Promise<T>): Promise<T> {
  if (db.inTransaction) return fn();
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = await fn();
    db.exec("COMMIT");
    return result;
  } catch (err) {
    if (db.inTransaction) db.exec("ROLLBACK");
    throw err;
  }
}
