import { statSync } from "node:fs";
import Database from "better-sqlite3";
import type pg from "pg";
import { redactUrl } from "../config/database-url.js";
import { databasePath } from "./db.js";
import { copyTable, sqliteCounts } from "./migrate-store-copy.js";
import { MigrateStoreError } from "./migrate-store-error.js";
import { MIGRATED_TABLES, quoteIdent, SQLITE_ONLY_TABLES } from "./migrate-store-tables.js";
import {
  matchColumns,
  prepareTarget,
  refuseIfNotEmpty,
  setChangeSeq,
  setSequences,
  type TableCount,
  verify,
} from "./migrate-store-target.js";
import { MIGRATIONS } from "./migrations/index.js";
import { pgSchemaVersion } from "./postgres/migrate.js";
import { PgDb } from "./postgres/pg-db.js";

export { MigrateStoreError, type MigrateStoreProblem } from "./migrate-store-error.js";
export { MIGRATED_TABLES, PG_ONLY_TABLES, SQLITE_ONLY_TABLES } from "./migrate-store-tables.js";
export type { TableCount } from "./migrate-store-target.js";

export interface MigrateStoreReport {
  /** The SQLite database file read. */
  readonly from: string;
  /** The PostgreSQL database written, its password masked. */
  readonly to: string;
  readonly sqliteSchemaVersion: number;
  readonly postgresSchemaVersion: number;
  /** Every copied table's rows on both sides, in copy order. */
  readonly tables: readonly TableCount[];
  readonly rows: number;
  /** The next value of each identity column, set past the copied rows. */
  readonly sequences: readonly { table: string; column: string; next: number }[];
  /** change_seq after the copy: the highest copied change. */
  readonly changeSeq: number;
  readonly durationMs: number;
}

export interface MigrateStoreOptions {
  /** Rows per INSERT at most. Default 500. */
  readonly batchRows?: number | undefined;
  /** Approximate bytes of values per INSERT at most. Default 8 MiB. */
  readonly batchBytes?: number | undefined;
  /** Hears each table's running total after every batch. */
  readonly onProgress?: ((p: { table: string; copied: number; of: number }) => void) | undefined;
}

/** The newest SQLite schema this build knows: the only one it copies from. */
export const LATEST_SQLITE_VERSION = MIGRATIONS.at(-1)?.version ?? 0;

/** The secrets in `url`, as written and decoded, to scrub from any message. */
function secretsOf(url: string): string[] {
  try {
    const u = new URL(url);
    const raw = [u.password, u.searchParams.get("password") ?? ""].filter(Boolean);
    return [...new Set([...raw, ...raw.map((s) => safeDecode(s))])].filter(Boolean);
  } catch {
    return [];
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A data directory's database, or the path itself when it names the database file. */
export function sourceDatabaseFile(path: string): string {
  try {
    if (statSync(path).isFile()) return path;
  } catch {
    // Reported by openSource, with the path the user gave.
  }
  return databasePath(path);
}

/**
 * Copies the SQLite store at `from` (a data directory or its tessera.db) into the PostgreSQL
 * database at `toUrl`, in one PostgreSQL transaction: all of it or none. Checks first, changing
 * nothing when it refuses: the source must be a Tessera store at the newest schema version,
 * the target must hold no Tessera data. The target is then migrated, every table copied in
 * foreign-key order, the identity sequences and change_seq set past the copied rows, and each
 * table's rows counted on both sides before the commit (a difference rolls everything back).
 * The source is opened read-only and read in one transaction: one consistent snapshot.
 */
export async function migrateStore(
  from: string,
  toUrl: string,
  opts: MigrateStoreOptions = {},
): Promise<MigrateStoreReport> {
  try {
    return await migrate(from, toUrl, opts);
  } catch (err) {
    // No message may carry the URL's password (a driver's error could quote the URL).
    if (err instanceof Error)
      for (const s of secretsOf(toUrl)) err.message = err.message.replaceAll(s, "***");
    throw err;
  }
}

async function migrate(from: string, toUrl: string, opts: MigrateStoreOptions): Promise<MigrateStoreReport> {
  const started = Date.now();
  const file = sourceDatabaseFile(from);
  const source = openSource(file, from);
  try {
    source.exec("BEGIN"); // one snapshot for the counts and every table read
    const sqliteSchemaVersion = checkSource(source, from);
    const names = MIGRATED_TABLES.map((t) => t.name);
    const sourceCounts = sqliteCounts(source, names);
    const db = new PgDb(toUrl, { max: 2, statementTimeoutMs: 600_000, connectTimeoutMs: 10_000 });
    try {
      await prepareTarget(db);
      const client = await db.pool.connect();
      // A connection lost while checked out must fail the call, not end the process.
      client.on("error", () => {});
      try {
        const done = await copyAll(source, client, sourceCounts, opts);
        return {
          from: file,
          to: redactUrl(toUrl),
          sqliteSchemaVersion,
          postgresSchemaVersion: await pgSchemaVersion(db),
          ...done,
          durationMs: Date.now() - started,
        };
      } finally {
        client.release();
      }
    } finally {
      await db.close();
    }
  } finally {
    if (source.inTransaction) source.exec("ROLLBACK");
    source.close();
  }
}

/** The store, read-only (a read-only connection can change nothing), or SOURCE_MISSING. */
function openSource(file: string, given: string): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch {
    throw new MigrateStoreError("SOURCE_MISSING", `${given} holds no Tessera database`);
  }
  db.pragma("busy_timeout = 5000");
  return db;
}

/** Refuses a store that is not at this build's schema version or holds a table not copied. */
function checkSource(source: Database.Database, given: string): number {
  let version: number;
  let tables: string[];
  try {
    version = source.pragma("user_version", { simple: true }) as number;
    tables = source
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
      .all()
      .map((r) => r.name);
  } catch {
    throw new MigrateStoreError("SOURCE_MISSING", `${given} is not a readable SQLite database`);
  }
  if (version === 0 || !tables.includes("orgs"))
    throw new MigrateStoreError("SOURCE_MISSING", `${given} holds no Tessera database`);
  if (version < LATEST_SQLITE_VERSION)
    throw new MigrateStoreError(
      "SOURCE_SCHEMA_OLD",
      `the SQLite store is at schema version ${version}, this Tessera copies from version ${LATEST_SQLITE_VERSION}: start the server on it once (tessera serve --data-dir DIR) to upgrade it, stop it, then run migrate-store again`,
    );
  if (version > LATEST_SQLITE_VERSION)
    throw new MigrateStoreError(
      "SOURCE_SCHEMA_NEWER",
      `the SQLite store is at schema version ${version}, newer than this Tessera knows (${LATEST_SQLITE_VERSION}): run the migrate-store of the Tessera that wrote it`,
    );
  const known = new Set([...MIGRATED_TABLES.map((t) => t.name), ...SQLITE_ONLY_TABLES]);
  const unknown = tables.filter((t) => !known.has(t));
  if (unknown.length > 0)
    throw new MigrateStoreError(
      "SOURCE_UNKNOWN_TABLE",
      `the SQLite store holds tables this Tessera does not copy (${unknown.join(", ")}); nothing was copied`,
    );
  return version;
}

type Copied = Pick<MigrateStoreReport, "tables" | "rows" | "sequences" | "changeSeq">;

/** The copy itself, in one transaction on `client`: committed only when every count matches. */
async function copyAll(
  source: Database.Database,
  client: pg.PoolClient,
  sourceCounts: ReadonlyMap<string, number>,
  opts: MigrateStoreOptions,
): Promise<Copied> {
  const names = MIGRATED_TABLES.map((t) => t.name);
  const limits = { rows: opts.batchRows ?? 500, bytes: opts.batchBytes ?? 8 * 1024 * 1024 };
  await client.query("BEGIN");
  try {
    // No server on the target writes while the copy runs, nor between the check and the copy.
    await client.query(`LOCK TABLE ${[...names, "change_seq"].map(quoteIdent).join(", ")} IN EXCLUSIVE MODE`);
    await refuseIfNotEmpty(client, names);
    const columns = await matchColumns(source, client);
    for (const table of MIGRATED_TABLES) {
      const of = sourceCounts.get(table.name) ?? 0;
      const report = (copied: number) => opts.onProgress?.({ table: table.name, copied, of });
      await copyTable(source, client, table, columns.get(table.name) ?? [], limits, report).catch(
        (err: unknown) => {
          throw new MigrateStoreError(
            "COPY_FAILED",
            `copying ${table.name}: ${(err as Error).message}; nothing was committed`,
          );
        },
      );
    }
    const tables = await verify(client, sourceCounts);
    const changeSeq = await setChangeSeq(client);
    // Last, just before the commit: setval is not rolled back with the transaction.
    const sequences = await setSequences(client, columns);
    await client.query("COMMIT");
    return { tables, rows: tables.reduce((n, t) => n + t.postgres, 0), sequences, changeSeq };
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  }
}
