import {
  closeSync,
  existsSync,
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
import {
  BackupError,
  LATEST_SCHEMA_VERSION,
  ownerOnlyFile,
  SQLITE_MAGIC,
  signingKeys,
  syncFile,
  tesseraVersion,
} from "./backup-file.js";
import { databasePath, openDatabase } from "./db.js";
import type { SigningKeyRow } from "./signing-keys.js";

/* Restoring a backup (see backup-file.ts) into a new data directory, every check made first. */

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
