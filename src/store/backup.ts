import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  unlinkSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import Database from "better-sqlite3";
import { databasePath, openDatabase } from "./db.js";
import { MIGRATIONS } from "./migrations/index.js";
import type { SigningKeyRow } from "./signing-keys.js";

/*
 * Backups of the store: one SQLite file (the decision log lives in the same database), taken
 * with SQLite's online backup API while the server runs, and restored into a new data directory.
 * The master key is never in a backup: signing keys stay sealed under it, as they are stored.
 */

/** Why a backup or a restore was refused. Nothing was written when one is thrown. */
export type BackupProblem =
  /** The data directory holds no Tessera database. */
  | "BACKUP_SOURCE_MISSING"
  /** The backup file already exists (and overwriting was not asked for). */
  | "BACKUP_TARGET_EXISTS"
  /** The backup file's directory does not exist, or the path is a directory. */
  | "BACKUP_TARGET_INVALID"
  /** The file to restore from does not exist. */
  | "BACKUP_NOT_FOUND"
  /** Not a SQLite database, or one that is not Tessera's. */
  | "NOT_A_BACKUP"
  /** A Tessera database that fails SQLite's integrity or foreign-key checks. */
  | "BACKUP_CORRUPT"
  /** Made by a newer Tessera: its schema version is one this one does not know. */
  | "BACKUP_SCHEMA_NEWER"
  /** The data directory to restore into exists and is not empty. */
  | "RESTORE_TARGET_NOT_EMPTY";

export class BackupError extends Error {
  override readonly name = "BackupError";
  constructor(
    readonly problem: BackupProblem,
    message: string,
  ) {
    super(message);
  }
}

/** The newest schema version this build knows. */
export const LATEST_SCHEMA_VERSION = MIGRATIONS.at(-1)?.version ?? 0;

/** Tables every Tessera schema version has: a database without them is not a store. */
const CORE_TABLES = ["orgs", "org_credentials", "agents", "signing_keys", "policies"];
const SQLITE_MAGIC = "SQLite format 3\0";

/** Pages copied per step unless told otherwise (4 MiB at SQLite's default page size). */
const PAGES_PER_STEP = 1000;

export interface BackupOptions {
  /** Replace the file when it exists. */
  readonly overwrite?: boolean | undefined;
  readonly pagesPerStep?: number | undefined;
  /** Called between steps with the pages copied so far. */
  readonly onProgress?: ((p: { totalPages: number; remainingPages: number }) => void) | undefined;
}

export interface BackupResult {
  readonly file: string;
  readonly bytes: number;
  readonly pages: number;
  readonly steps: number;
  readonly schemaVersion: number;
  /** The stored signing keys (sealed under the master key when one was configured). */
  readonly signingKeys: readonly SigningKeyRow[];
}

/** The schema version of a Tessera database, or undefined when it is not one. */
function tesseraVersion(db: Database.Database): number | undefined {
  const names = new Set(
    db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
      .all()
      .map((r) => r.name),
  );
  const version = db.pragma("user_version", { simple: true }) as number;
  return version > 0 && CORE_TABLES.every((t) => names.has(t)) ? version : undefined;
}

/** The signing keys as stored (columns every schema version has). */
function signingKeys(db: Database.Database): SigningKeyRow[] {
  const rows = db
    .prepare<
      [],
      { kid: string; alg: string; public_jwk: string; private_jwk: string; state: string; created_at: number }
    >(
      "SELECT kid, alg, public_jwk, private_jwk, state, created_at FROM signing_keys ORDER BY created_at, kid",
    )
    .all();
  return rows.map((r) => ({
    kid: r.kid,
    alg: r.alg,
    publicJwk: r.public_jwk,
    privateJwk: r.private_jwk,
    state: r.state as SigningKeyRow["state"],
    createdAt: r.created_at,
  }));
}

/** Writes a file's data and its directory entry to disk. */
function syncFile(path: string): void {
  for (const p of [path, dirname(path)]) {
    const fd = openSync(p, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/** An empty file readable by its owner only, for SQLite to write a copy of the store into. */
function ownerOnlyFile(path: string): void {
  closeSync(openSync(path, "w", 0o600));
}

/**
 * Copies the store in `dataDir` to `to` while a server may be writing to it. The copy is read
 * through one read transaction held from the first page to the last, so it is the store as of
 * one instant, and steps of the backup API never restart when the server commits (a backup
 * stepping outside a transaction starts over on every write made by another process, and under
 * steady load never ends). In WAL mode a reader blocks no writer: the server's only cost is a WAL
 * that cannot be checkpointed past the snapshot until the copy ends. The result is written
 * beside `to`, checked, switched to a rollback journal (one self-contained file), fsync'd and
 * then renamed into place, so `to` is never a partial copy.
 */
export async function backupStore(
  dataDir: string,
  to: string,
  opts: BackupOptions = {},
): Promise<BackupResult> {
  const target = resolve(to);
  if (!existsSync(dirname(target)) || (existsSync(target) && statSync(target).isDirectory()))
    throw new BackupError("BACKUP_TARGET_INVALID", `${to} must be a file in an existing directory`);
  if (existsSync(target) && !opts.overwrite)
    throw new BackupError(
      "BACKUP_TARGET_EXISTS",
      `${to} exists; choose another file, or replace it with --force`,
    );
  const source = openSource(dataDir);
  const partial = join(dirname(target), `.${basename(target)}.partial-${process.pid}`);
  try {
    source.exec("BEGIN");
    // The first read starts the snapshot the whole copy is taken from.
    const schemaVersion = tesseraVersion(source);
    if (schemaVersion === undefined)
      throw new BackupError("BACKUP_SOURCE_MISSING", `${dataDir} holds no Tessera database`);
    ownerOnlyFile(partial);
    let steps = 1;
    const done = await source.backup(partial, {
      progress: (p) => {
        steps++;
        opts.onProgress?.(p);
        return opts.pagesPerStep ?? PAGES_PER_STEP;
      },
    });
    source.exec("COMMIT");
    const signing = finishCopy(partial);
    syncFile(partial);
    renameSync(partial, target);
    syncFile(target);
    return {
      file: target,
      bytes: statSync(target).size,
      pages: done.totalPages,
      steps,
      schemaVersion,
      signingKeys: signing,
    };
  } finally {
    source.close();
    rmSync(partial, { force: true });
    rmSync(`${partial}-journal`, { force: true });
  }
}

/** The store, read-only (a read-only connection can change nothing), or BACKUP_SOURCE_MISSING. */
function openSource(dataDir: string): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(databasePath(dataDir), { readonly: true, fileMustExist: true });
  } catch {
    throw new BackupError("BACKUP_SOURCE_MISSING", `${dataDir} holds no Tessera database`);
  }
  db.pragma("busy_timeout = 5000");
  return db;
}

/** Checks a fresh copy and makes it one file (no -wal beside it); returns its signing keys. */
function finishCopy(path: string): SigningKeyRow[] {
  const copy = new Database(path, { fileMustExist: true });
  try {
    copy.pragma("journal_mode = DELETE");
    const check = copy.pragma("integrity_check", { simple: true });
    if (check !== "ok") throw new Error(`the copy failed SQLite's integrity check: ${String(check)}`);
    return signingKeys(copy);
  } finally {
    copy.close();
  }
}

/** What a backup file holds, once it has been checked. */
export interface BackupInfo {
  readonly file: string;
  readonly bytes: number;
  readonly schemaVersion: number;
  readonly signingKeys: readonly SigningKeyRow[];
}

/** The first bytes of a file (fewer when it is shorter), or BACKUP_NOT_FOUND. */
function header(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    throw new BackupError("BACKUP_NOT_FOUND", `no backup file ${file}`);
  }
  try {
    const buf = Buffer.alloc(SQLITE_MAGIC.length);
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString("latin1");
  } finally {
    closeSync(fd);
  }
}

/** True for SQLite's errors about a damaged file. */
function damaged(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return err instanceof Database.SqliteError && /^SQLITE_(CORRUPT|NOTADB)/.test(String(code));
}

/**
 * Checks that `file` is a Tessera backup this build can restore, reading it only: a SQLite
 * database (NOT_A_BACKUP), intact and consistent (`integrity_check`, `foreign_key_check`:
 * BACKUP_CORRUPT), with Tessera's tables and a schema version this build knows
 * (BACKUP_SCHEMA_NEWER when a newer Tessera made it).
 */
export function inspectBackup(file: string): BackupInfo {
  if (header(file) !== SQLITE_MAGIC) throw new BackupError("NOT_A_BACKUP", `${file} is not a Tessera backup`);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const check = db.pragma("integrity_check", { simple: true });
    if (check !== "ok") throw new BackupError("BACKUP_CORRUPT", `${file} fails SQLite's integrity check`);
    const schemaVersion = tesseraVersion(db);
    if (schemaVersion === undefined)
      throw new BackupError("NOT_A_BACKUP", `${file} is a SQLite database, but not a Tessera store`);
    if (schemaVersion > LATEST_SCHEMA_VERSION) {
      throw new BackupError(
        "BACKUP_SCHEMA_NEWER",
        `${file} has schema version ${schemaVersion}, newer than this Tessera's ${LATEST_SCHEMA_VERSION}: restore it with the Tessera that made it, or a newer one`,
      );
    }
    if ((db.pragma("foreign_key_check") as unknown[]).length > 0)
      throw new BackupError("BACKUP_CORRUPT", `${file} has rows whose foreign keys point nowhere`);
    return { file: resolve(file), bytes: statSync(file).size, schemaVersion, signingKeys: signingKeys(db) };
  } catch (err) {
    if (damaged(err)) throw new BackupError("BACKUP_CORRUPT", `${file} is damaged: SQLite cannot read it`);
    throw err;
  } finally {
    db.close();
  }
}

/** Refuses a data directory that exists and is not empty (or is not a directory). */
export function checkRestoreTarget(dataDir: string): void {
  if (!existsSync(dataDir)) return;
  if (!statSync(dataDir).isDirectory() || readdirSync(dataDir).length > 0) {
    throw new BackupError(
      "RESTORE_TARGET_NOT_EMPTY",
      `${dataDir} is not an empty directory: restore only into a new (or empty) data directory`,
    );
  }
}

export interface RestoreResult {
  readonly dataDir: string;
  /** The backup's schema version. */
  readonly schemaVersion: number;
  /** The schema version of the restored store (newer when migrations were applied). */
  readonly storeVersion: number;
  readonly bytes: number;
  readonly signingKeys: number;
}

/**
 * Restores `file` into `dataDir`, which must not exist or be empty. Everything is checked
 * before anything is written: the target, the backup (inspectBackup) and then `check`, given
 * what the backup holds (the caller checks the master key opens its signing keys). The store
 * is built in a directory beside the target (copied with the backup API, migrated to this
 * build's schema) and moved into place only once complete.
 */
export async function restoreStore(
  file: string,
  dataDir: string,
  check: (info: BackupInfo) => void | Promise<void> = () => {},
): Promise<RestoreResult> {
  const target = resolve(dataDir);
  checkRestoreTarget(target);
  const info = inspectBackup(file);
  await check(info);
  mkdirSync(dirname(target), { recursive: true });
  // mkdtemp makes the directory 0700, as openDatabase makes a data directory.
  const staging = mkdtempSync(join(dirname(target), `.${basename(target)}.restore-`));
  try {
    const source = new Database(file, { readonly: true, fileMustExist: true });
    try {
      ownerOnlyFile(databasePath(staging));
      await source.backup(databasePath(staging));
    } finally {
      source.close();
    }
    const store = openDatabase(staging);
    const storeVersion = store.pragma("user_version", { simple: true }) as number;
    store.close();
    syncFile(databasePath(staging));
    moveInto(staging, target);
    return {
      dataDir: target,
      schemaVersion: info.schemaVersion,
      storeVersion,
      bytes: statSync(databasePath(target)).size,
      signingKeys: info.signingKeys.length,
    };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Moves the staged store into the target: the whole directory when there is none yet. */
function moveInto(staging: string, target: string): void {
  checkRestoreTarget(target);
  if (!existsSync(target)) {
    renameSync(staging, target);
  } else {
    renameSync(databasePath(staging), databasePath(target));
    for (const name of readdirSync(staging)) unlinkSync(join(staging, name));
    rmdirSync(staging);
  }
  syncFile(databasePath(target));
}
