/** The PostgreSQL side of `tessera migrate-store`: its checks before the copy and after it. */

import type Database from "better-sqlite3";
import type pg from "pg";
import { type PgColumn, pgColumns, pgCounts, sqliteColumns } from "./migrate-store-copy.js";
import { MigrateStoreError } from "./migrate-store-error.js";
import { MIGRATED_TABLES, quoteIdent } from "./migrate-store-tables.js";
import { migratePg, PG_MIGRATIONS, pgSchemaVersion } from "./postgres/migrate.js";
import type { PgDb } from "./postgres/pg-db.js";

const LATEST_PG_VERSION = PG_MIGRATIONS.at(-1)?.version ?? 0;

export interface TableCount {
  readonly table: string;
  readonly sqlite: number;
  readonly postgres: number;
}

/**
 * Refuses a target that holds Tessera data or has a schema this build does not know, before
 * changing anything; then migrates it to this build's schema.
 */
export async function prepareTarget(db: PgDb): Promise<void> {
  let version: number;
  try {
    version = await pgSchemaVersion(db);
  } catch (err) {
    throw new MigrateStoreError(
      "TARGET_UNREACHABLE",
      `cannot reach the PostgreSQL database: ${(err as Error).message}`,
    );
  }
  if (version > LATEST_PG_VERSION)
    throw new MigrateStoreError(
      "TARGET_SCHEMA_NEWER",
      `the PostgreSQL database is at schema version ${version}, newer than this Tessera knows (${LATEST_PG_VERSION})`,
    );
  if (version > 0) {
    const client = await db.pool.connect();
    // A connection lost while checked out must fail the call, not end the process.
    client.on("error", () => {});
    try {
      await refuseIfNotEmpty(client, await existingTables(client));
    } finally {
      client.release();
    }
  }
  await migratePg(db);
}

/** The copied tables the connected database has (an older schema lacks some). */
async function existingTables(client: pg.PoolClient): Promise<string[]> {
  const res = await client.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ANY($1)`,
    [MIGRATED_TABLES.map((t) => t.name)],
  );
  const have = new Set(res.rows.map((r) => r.table_name));
  return MIGRATED_TABLES.map((t) => t.name).filter((t) => have.has(t));
}

export async function refuseIfNotEmpty(client: pg.PoolClient, tables: readonly string[]): Promise<void> {
  const held: string[] = [];
  for (const t of tables) {
    const res = await client.query(`SELECT 1 FROM ${quoteIdent(t)} LIMIT 1`);
    if (res.rows.length > 0) held.push(t);
  }
  if (held.length > 0)
    throw new MigrateStoreError(
      "TARGET_NOT_EMPTY",
      `the PostgreSQL database already holds Tessera data (in ${held.join(", ")}): migrate-store copies only into a database without any; nothing was changed`,
    );
}

/** Checks that every copied table has the same columns on both sides; returns PostgreSQL's. */
export async function matchColumns(
  source: Database.Database,
  client: pg.PoolClient,
): Promise<Map<string, PgColumn[]>> {
  const pgCols = await pgColumns(
    client,
    MIGRATED_TABLES.map((t) => t.name),
  );
  for (const { name } of MIGRATED_TABLES) {
    const want = [...sqliteColumns(source, name)].sort();
    const have = (pgCols.get(name) ?? []).map((c) => c.name).sort();
    if (want.join(",") !== have.join(","))
      throw new MigrateStoreError(
        "TARGET_SCHEMA_MISMATCH",
        `table ${name} has columns (${want.join(", ")}) in SQLite but (${have.join(", ")}) in PostgreSQL`,
      );
  }
  return pgCols;
}

export async function verify(
  client: pg.PoolClient,
  sourceCounts: ReadonlyMap<string, number>,
): Promise<TableCount[]> {
  const names = MIGRATED_TABLES.map((t) => t.name);
  const target = await pgCounts(client, names);
  const tables = names.map((t) => ({
    table: t,
    sqlite: sourceCounts.get(t) ?? 0,
    postgres: target.get(t) ?? 0,
  }));
  const off = tables.filter((t) => t.sqlite !== t.postgres);
  if (off.length > 0)
    throw new MigrateStoreError(
      "COUNT_MISMATCH",
      `row counts differ after the copy (${off.map((t) => `${t.table}: ${t.sqlite} in SQLite, ${t.postgres} in PostgreSQL`).join("; ")}); nothing was committed`,
    );
  return tables;
}

/** change_seq continues after the highest copied change. */
export async function setChangeSeq(client: pg.PoolClient): Promise<number> {
  const res = await client.query<{ seq: number }>(
    "UPDATE change_seq SET seq = (SELECT coalesce(max(seq), 0) FROM changes) RETURNING seq",
  );
  return Number(res.rows[0]?.seq ?? 0);
}

/** Each identity column's sequence continues after the highest copied value. */
export async function setSequences(client: pg.PoolClient, columns: ReadonlyMap<string, readonly PgColumn[]>) {
  const out: { table: string; column: string; next: number }[] = [];
  for (const { name } of MIGRATED_TABLES) {
    for (const c of (columns.get(name) ?? []).filter((x) => x.identity)) {
      const res = await client.query<{ next: number }>(
        `SELECT coalesce(max(${quoteIdent(c.name)}), 0) + 1 AS next FROM ${quoteIdent(name)}`,
      );
      const next = Number(res.rows[0]?.next ?? 1);
      await client.query("SELECT setval(pg_get_serial_sequence($1, $2), $3, false)", [name, c.name, next]);
      out.push({ table: name, column: c.name, next });
    }
  }
  return out;
}
