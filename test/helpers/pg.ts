import { randomBytes } from "node:crypto";
import pg from "pg";
import { redactUrl } from "../../src/config/database-url.js";
import { migratePg } from "../../src/store/postgres/migrate.js";
import { PgDb } from "../../src/store/postgres/pg-db.js";

/**
 * The PostgreSQL server the tests use: `TESSERA_TEST_DATABASE_URL`, or the development
 * machines' default. Each test file gets throwaway databases on it, dropped afterwards.
 */
export const PG_ADMIN_URL =
  process.env.TESSERA_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

async function probe(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return undefined;
  } catch (err) {
    return `no PostgreSQL at ${redactUrl(PG_ADMIN_URL)} (${(err as Error).message}); set TESSERA_TEST_DATABASE_URL`;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Why the PostgreSQL tests cannot run here, or undefined when they can. Probed once per file.
 * CI sets TESSERA_TEST_REQUIRE_POSTGRES: there a missing server fails the run instead of skipping.
 */
export const pgSkipReason: string | undefined = await probe();
if (pgSkipReason && process.env.TESSERA_TEST_REQUIRE_POSTGRES) throw new Error(pgSkipReason);

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** A fresh, empty database on the test server; `drop` removes it (closing other sessions first). */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `tessera_test_${process.pid}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    url: withDatabase(PG_ADMIN_URL, name),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** A fresh database with Tessera's schema, opened as a pool. */
export async function openTestPg(): Promise<{ db: PgDb; url: string; drop: () => Promise<void> }> {
  const { url, drop } = await createTestDatabase();
  const db = new PgDb(url);
  await migratePg(db);
  return {
    db,
    url,
    drop: async () => {
      await db.close();
      await drop();
    },
  };
}
