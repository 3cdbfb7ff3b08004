// A throwaway PostgreSQL database for the replicas cases (issue #14), made the way the tests
// make theirs (test/helpers/pg.ts, which the bench does not import): an empty database on the
// server TESSERA_BENCH_DATABASE_URL names, dropped afterwards with every session still on it.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import pg from "pg";

/** The server the bench creates its database on: TESSERA_BENCH_DATABASE_URL, or the development default. */
export const PG_ADMIN_URL =
  process.env.TESSERA_BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** A URL fit to print: its password masked. */
export const redact = (url) => url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@");

async function admin(sql, url = PG_ADMIN_URL) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Why the PostgreSQL cases cannot run here (no server answers), or undefined when they can. */
export async function pgSkipReason() {
  try {
    await admin("SELECT 1");
    return undefined;
  } catch (err) {
    return `no PostgreSQL at ${redact(PG_ADMIN_URL)} (${err.message}); set TESSERA_BENCH_DATABASE_URL`;
  }
}

/** A fresh, empty database: { name, url, server (its version), drop() }. */
export async function createBenchDatabase() {
  const name = `tessera_bench_${process.pid}_${randomBytes(4).toString("hex")}`;
  await admin(`CREATE DATABASE ${name}`);
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  const { rows } = await admin("SHOW server_version");
  let dropped;
  return {
    name,
    url: u.toString(),
    server: `PostgreSQL ${rows[0].server_version}`,
    /** The server processes serving this database, when the server runs on this machine (else none). */
    localPids: async () => {
      const { rows: backends } = await admin(`SELECT pid FROM pg_stat_activity WHERE datname = '${name}'`);
      return backends.map((b) => b.pid).filter(isLocalPostgres);
    },
    drop: () => {
      dropped ??= admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      return dropped;
    },
  };
}

function isLocalPostgres(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").startsWith("postgres");
  } catch {
    return false;
  }
}
