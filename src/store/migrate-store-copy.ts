import type Database from "better-sqlite3";
import type pg from "pg";
import { type MigratedTable, quoteIdent } from "./migrate-store-tables.js";

/** A PostgreSQL column as the copy needs it: its name, type (for the parameter's cast) and identity. */
export interface PgColumn {
  readonly name: string;
  /** information_schema's udt_name: int8, text, bytea, jsonb, … */
  readonly type: string;
  readonly identity: boolean;
}

export interface BatchLimits {
  /** Rows per INSERT at most (also kept under PostgreSQL's 65535 parameters). */
  readonly rows: number;
  /** Approximate bytes of values per INSERT at most: decision segments can be large. */
  readonly bytes: number;
}

/** PostgreSQL's limit on one statement's parameters. */
const MAX_PARAMETERS = 65_535;

/** About how many bytes a value adds to the statement. */
function sizeOf(v: unknown): number {
  if (typeof v === "string" || Buffer.isBuffer(v)) return v.length;
  return 8;
}

/** `INSERT INTO t (a, b) VALUES ($1::text, $2::int8), (…)` for `rows` rows. */
function insertSql(table: string, columns: readonly PgColumn[], rows: number): string {
  const names = columns.map((c) => quoteIdent(c.name)).join(", ");
  const tuples: string[] = [];
  for (let r = 0; r < rows; r++) {
    const base = r * columns.length;
    tuples.push(`(${columns.map((c, i) => `$${base + i + 1}::${c.type}`).join(", ")})`);
  }
  return `INSERT INTO ${quoteIdent(table)} (${names}) VALUES ${tuples.join(", ")}`;
}

/**
 * Copies one table from the SQLite snapshot into PostgreSQL on `client` (inside the caller's
 * transaction), by column name, in multi-row INSERTs. Integers are read as BigInts and sent as
 * text, so no value is rounded through a double; BLOBs go as BYTEA, JSON text into JSONB by the
 * cast. Returns the rows copied; `onBatch` hears the running total.
 */
export async function copyTable(
  source: Database.Database,
  client: pg.PoolClient,
  table: MigratedTable,
  columns: readonly PgColumn[],
  limits: BatchLimits,
  onBatch: (copied: number) => void,
): Promise<number> {
  const list = columns.map((c) => quoteIdent(c.name)).join(", ");
  const text = table.select ? table.select(list) : `SELECT ${list} FROM ${quoteIdent(table.name)}`;
  const read = source.prepare(text).raw(true).safeIntegers(true);
  const perBatch = Math.max(1, Math.min(limits.rows, Math.floor(MAX_PARAMETERS / columns.length)));
  const fullSql = insertSql(table.name, columns, perBatch);
  let params: unknown[] = [];
  let rows = 0;
  let bytes = 0;
  let copied = 0;
  const flush = async () => {
    if (rows === 0) return;
    await client.query(rows === perBatch ? fullSql : insertSql(table.name, columns, rows), params);
    copied += rows;
    onBatch(copied);
    params = [];
    rows = 0;
    bytes = 0;
  };
  // The statement stays open across the awaits: nothing else uses this connection meanwhile.
  for (const row of read.iterate() as IterableIterator<unknown[]>) {
    for (const v of row) {
      params.push(typeof v === "bigint" ? v.toString() : v);
      bytes += sizeOf(v);
    }
    rows++;
    if (rows >= perBatch || bytes >= limits.bytes) await flush();
  }
  await flush();
  return copied;
}

/** The columns of each of `tables` in the connected database's current schema. */
export async function pgColumns(
  client: pg.PoolClient,
  tables: readonly string[],
): Promise<Map<string, PgColumn[]>> {
  const res = await client.query<{
    table_name: string;
    column_name: string;
    udt_name: string;
    is_identity: string;
  }>(
    `SELECT table_name, column_name, udt_name, is_identity FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = ANY($1) ORDER BY table_name, ordinal_position`,
    [tables],
  );
  const out = new Map<string, PgColumn[]>();
  for (const r of res.rows) {
    const list = out.get(r.table_name) ?? [];
    list.push({ name: r.column_name, type: r.udt_name, identity: r.is_identity === "YES" });
    out.set(r.table_name, list);
  }
  return out;
}

/** The column names of a SQLite table, in order. */
export function sqliteColumns(source: Database.Database, table: string): string[] {
  return source
    .prepare<[string], { name: string }>("SELECT name FROM pragma_table_info(?)")
    .all(table)
    .map((r) => r.name);
}

/** The rows of each table, by name, on SQLite (in the caller's read transaction). */
export function sqliteCounts(source: Database.Database, tables: readonly string[]): Map<string, number> {
  return new Map(
    tables.map((t) => [
      t,
      source.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${quoteIdent(t)}`).get()?.n ?? 0,
    ]),
  );
}

/** The rows of each table, by name, on PostgreSQL (as `client`'s transaction sees them). */
export async function pgCounts(
  client: pg.PoolClient,
  tables: readonly string[],
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const t of tables) {
    const res = await client.query<{ n: number }>(`SELECT count(*) AS n FROM ${quoteIdent(t)}`);
    out.set(t, Number(res.rows[0]?.n ?? 0));
  }
  return out;
}
