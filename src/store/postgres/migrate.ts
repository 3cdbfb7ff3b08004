import type pg from "pg";
import type { PgDb } from "./pg-db.js";
import { CORE_SCHEMA } from "./schema-core.js";
import { DECISION_SCHEMA } from "./schema-decisions.js";

export interface PgMigration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** PostgreSQL's migrations, applied in order. Never edit a released one: add a new one. */
export const PG_MIGRATIONS: readonly PgMigration[] = [
  { version: 1, name: "core schema (SQLite's as of its migration 16)", sql: CORE_SCHEMA },
  { version: 2, name: "decision log", sql: DECISION_SCHEMA },
];

/** The advisory-lock key migrations hold: any constant other Tessera locks do not use. */
const MIGRATION_LOCK = 0x7e55e7a;

/**
 * Applies every migration newer than the database's, each in its own transaction, holding a
 * session advisory lock: N replicas starting at once migrate exactly once, the others wait and
 * then find nothing to do. Returns the versions this call applied.
 */
export async function migratePg(
  db: PgDb,
  migrations: readonly PgMigration[] = PG_MIGRATIONS,
): Promise<number[]> {
  const client = await db.pool.connect();
  // A connection lost while checked out must fail the call, not end the process.
  client.on("error", () => {});
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
    try {
      await client.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
      );
      const current = await currentVersion(client);
      const applied: number[] = [];
      for (const m of migrations) {
        if (m.version <= current) continue;
        await client.query("BEGIN");
        try {
          await client.query(m.sql);
          await client.query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            [m.version, m.name, Math.floor(Date.now() / 1000)],
          );
          await client.query("COMMIT");
        } catch (err) {
          await client.query("ROLLBACK");
          throw err;
        }
        applied.push(m.version);
      }
      return applied;
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
}

async function currentVersion(client: pg.PoolClient): Promise<number> {
  const res = await client.query<{ v: number | null }>("SELECT max(version) AS v FROM schema_migrations");
  return res.rows[0]?.v ?? 0;
}

/** The newest migration a database has, or 0 when it has none (or no Tessera schema). */
export async function pgSchemaVersion(db: PgDb): Promise<number> {
  const exists = await db.one<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t");
  if (!exists?.t) return 0;
  return (await db.one<{ v: number | null }>("SELECT max(version) AS v FROM schema_migrations"))?.v ?? 0;
}
