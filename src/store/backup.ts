import { existsSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import Database from "better-sqlite3";
import { BackupError, ownerOnlyFile, signingKeys, syncFile, tesseraVersion } from "./backup-file.js";
import { databasePath } from "./db.js";
import type { SigningKeyRow } from "./signing-keys.js";

export { BackupError, type BackupProblem } from "./backup-file.js";

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
