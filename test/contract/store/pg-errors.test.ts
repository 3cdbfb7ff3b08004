import { describe, expect, it } from "vitest";
import { TesseraError } from "../../../src/domain/errors.js";
import { PgDb } from "../../../src/store/postgres/pg-db.js";
import { openTestPg, pgSkipReason } from "../../helpers/pg.js";

/** The refusal a call gets, as reason and kind (or the driver's SQLSTATE when it is not ours). */
async function refusal(p: Promise<unknown>) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err instanceof TesseraError) return { reason: err.reason, kind: err.kind, message: err.message };
  return { code: (err as { code?: string }).code };
}

describe("a PostgreSQL database out of reach", () => {
  it("is UNAVAILABLE STORE_UNAVAILABLE for queries and transactions, naming no host or user", async () => {
    // Nothing listens on port 1: the connection is refused.
    const db = new PgDb("postgres://tessera:s3cret@127.0.0.1:1/tessera", { connectTimeoutMs: 2000 });
    try {
      for (const call of [db.query("SELECT 1"), db.one("SELECT 1"), db.tx((sql) => sql.query("SELECT 1"))]) {
        const r = await refusal(call);
        expect(r).toMatchObject({ reason: "STORE_UNAVAILABLE", kind: "unavailable" });
        expect(r.message).not.toMatch(/127\.0\.0\.1|tessera|s3cret/);
      }
    } finally {
      await db.close();
    }
  });
});

describe.skipIf(pgSkipReason !== undefined)(
  `a statement PostgreSQL refuses${pgSkipReason ? ` (skipped: ${pgSkipReason})` : ""}`,
  () => {
    it("keeps its own error: only an unreachable database becomes STORE_UNAVAILABLE", async () => {
      const { db, drop } = await openTestPg();
      try {
        expect(await refusal(db.query("SELEC 1"))).toEqual({ code: "42601" });
        expect(await refusal(db.tx((sql) => sql.query("SELECT * FROM no_such_table")))).toEqual({
          code: "42P01",
        });
      } finally {
        await drop();
      }
    });
  },
);
