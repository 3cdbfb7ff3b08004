import { closeSync, fsyncSync, openSync } from "node:fs";
import { dirname } from "node:path";
import type Database from "better-sqlite3";
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
export const SQLITE_MAGIC = "SQLite format 3\0";

/** The schema version of a Tessera database, or undefined when it is not one. */
export function tesseraVersion(db: Database.Database): number | undefined {
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
export function signingKeys(db: Database.Database): SigningKeyRow[] {
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
export function syncFile(path: string): void {
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
export function ownerOnlyFile(path: string): void {
  closeSync(openSync(path, "w", 0o600));
}
