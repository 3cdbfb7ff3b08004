import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migratePg, PG_MIGRATIONS, pgSchemaVersion } from "../../../src/store/postgres/migrate.js";
import { PgDb } from "../../../src/store/postgres/pg-db.js";
import { createTestDatabase, pgSkipReason } from "../../helpers/pg.js";

describe.skipIf(pgSkipReason !== undefined)(
  `PostgreSQL migrations${pgSkipReason ? ` (skipped: ${pgSkipReason})` : ""}`,
  () => {
    let url = "";
    let drop = async () => {};
    beforeAll(async () => {
      ({ url, drop } = await createTestDatabase());
    });
    afterAll(async () => drop());

    it("applies every migration exactly once when several replicas start at the same moment", async () => {
      const replicas = Array.from({ length: 6 }, () => new PgDb(url, { max: 2 }));
      const [first, second] = replicas as [PgDb, PgDb];
      try {
        const applied = await Promise.all(replicas.map((db) => migratePg(db)));
        const all = applied.flat().sort((a, b) => a - b);
        expect(all).toEqual(PG_MIGRATIONS.map((m) => m.version));
        expect(applied.filter((a) => a.length > 0)).toHaveLength(1);
        expect(await pgSchemaVersion(first)).toBe(PG_MIGRATIONS.at(-1)?.version);
        const rows = await first.query<{ version: number }>(
          "SELECT version FROM schema_migrations ORDER BY version",
        );
        expect(rows.map((r) => r.version)).toEqual(PG_MIGRATIONS.map((m) => m.version));
        // A restart finds nothing to do.
        expect(await migratePg(second)).toEqual([]);
      } finally {
        await Promise.all(replicas.map((db) => db.close()));
      }
    });

    it("rolls a failing migration back whole and leaves the version where it was", async () => {
      const db = new PgDb(url, { max: 1 });
      try {
        const before = await pgSchemaVersion(db);
        const bad = [
          ...PG_MIGRATIONS,
          { version: 999, name: "broken", sql: "CREATE TABLE half (x int); SELECT nope" },
        ];
        await expect(migratePg(db, bad)).rejects.toMatchObject({ code: "42703" });
        expect(await pgSchemaVersion(db)).toBe(before);
        expect((await db.one<{ t: string | null }>("SELECT to_regclass('half')::text AS t"))?.t).toBeNull();
      } finally {
        await db.close();
      }
    });
  },
);
