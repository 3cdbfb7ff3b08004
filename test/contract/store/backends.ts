import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe } from "vitest";
import { type Db, openDatabase } from "../../../src/store/db.js";
import type { PgDb } from "../../../src/store/postgres/pg-db.js";
import { openTestPg, pgSkipReason } from "../../helpers/pg.js";

/** One backend's open database, fresh for each test. */
export type Opened =
  | { readonly kind: "sqlite"; readonly db: Db }
  | { readonly kind: "postgres"; readonly db: PgDb };

/**
 * Declares `body` once per backend: SQLite always, PostgreSQL when a server answers (else the
 * suite is reported skipped, with the reason in its name). Each test starts on an empty,
 * fully migrated database: a new SQLite file, or every PostgreSQL table truncated.
 */
export function describeBackends(title: string, body: (opened: () => Opened) => void): void {
  describe(`${title} [sqlite]`, () => {
    let dir = "";
    let db: Db | undefined;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), "tessera-contract-"));
      db = openDatabase(dir);
    });
    afterEach(() => {
      db?.close();
      rmSync(dir, { recursive: true, force: true });
    });
    body(() => ({ kind: "sqlite", db: db as Db }));
  });
  const pgTitle = `${title} [postgres]${pgSkipReason ? ` (skipped: ${pgSkipReason})` : ""}`;
  describe.skipIf(pgSkipReason !== undefined)(pgTitle, () => {
    let pg: Awaited<ReturnType<typeof openTestPg>> | undefined;
    beforeAll(async () => {
      pg = await openTestPg();
    });
    afterAll(async () => pg?.drop());
    beforeEach(async () => {
      if (pg) await truncateAll(pg.db);
    });
    body(() => ({ kind: "postgres", db: (pg as NonNullable<typeof pg>).db }));
  });
}

async function truncateAll(db: PgDb): Promise<void> {
  const tables = await db.query<{ name: string }>(
    `SELECT tablename AS name FROM pg_tables
      WHERE schemaname = current_schema() AND tablename NOT IN ('schema_migrations', 'change_seq')`,
  );
  await db.query(`TRUNCATE ${tables.map((t) => t.name).join(", ")} RESTART IDENTITY CASCADE`);
  await db.query("UPDATE change_seq SET seq = 0");
}

/** Inserts rows as they are (seeding a test), on either backend. */
export async function insertRows(
  o: Opened,
  table: string,
  rows: readonly Record<string, unknown>[],
): Promise<void> {
  for (const row of rows) {
    const cols = Object.keys(row);
    const values = cols.map((c) => row[c]);
    if (o.kind === "sqlite") {
      o.db
        .prepare(`INSERT INTO ${table} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`)
        .run(...values);
    } else {
      await o.db.query(
        `INSERT INTO ${table} (${cols.join(", ")}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(", ")})`,
        values,
      );
    }
  }
}

/** Every row a query returns, on either backend (write `?` placeholders; PostgreSQL gets `$n`). */
export async function selectRows<R>(o: Opened, sql: string, params: readonly unknown[] = []): Promise<R[]> {
  if (o.kind === "sqlite") return o.db.prepare(sql).all(...params) as R[];
  let n = 0;
  return o.db.query<R>(
    sql.replace(/\?/g, () => `$${++n}`),
    params,
  );
}

/** Seeds an org row (most tables reference one). */
export async function seedOrg(o: Opened, id: string, name = id): Promise<void> {
  await insertRows(o, "orgs", [{ id, name, policy_revision: 0, created_at: 1_700_000_000 }]);
}
