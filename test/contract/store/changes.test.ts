import pg from "pg";
import { describe, expect, it } from "vitest";
import { ChangeLog } from "../../../src/store/changes.js";
import type { Async } from "../../../src/store/contract/async.js";
import { CHANGE_CHANNEL, PgChangeLog, recordChange } from "../../../src/store/postgres/changes.js";
import { openTestPg, pgSkipReason } from "../../helpers/pg.js";
import { describeBackends, type Opened } from "./backends.js";

function changeLog(o: Opened): Async<ChangeLog> {
  return o.kind === "sqlite" ? new ChangeLog(o.db) : new PgChangeLog(o.db);
}

describeBackends("change log", (opened) => {
  it("hands out changes after a position, oldest first, and knows the newest", async () => {
    const log = changeLog(opened());
    expect(await log.latest()).toBe(0);
    await log.record("policy", "org-a");
    await log.record("token_revoked", "org-a", "jti-1");
    await log.record("keys", null);
    const all = await log.since(0);
    expect(all.map((c) => [c.kind, c.orgId, c.ref])).toEqual([
      ["policy", "org-a", null],
      ["token_revoked", "org-a", "jti-1"],
      ["keys", null, null],
    ]);
    expect(all.map((c) => c.seq)).toEqual([...all.map((c) => c.seq)].sort((a, b) => a - b));
    expect(await log.latest()).toBe(all[2]?.seq);
    expect((await log.since(all[0]?.seq ?? 0)).map((c) => c.kind)).toEqual(["token_revoked", "keys"]);
    expect(await log.since(await log.latest())).toEqual([]);
  });

  it("prunes only changes older than the bound", async () => {
    const log = changeLog(opened());
    await log.record("policy", "org-a");
    await log.prune(3600);
    expect(await log.since(0)).toHaveLength(1);
  });
});

describe.skipIf(pgSkipReason !== undefined)(
  `PostgreSQL change notifications${pgSkipReason ? ` (skipped: ${pgSkipReason})` : ""}`,
  () => {
    it("notifies listeners once per committed change, and not for one rolled back", async () => {
      const { db, url, drop } = await openTestPg();
      const listener = new pg.Client({ connectionString: url });
      try {
        await listener.connect();
        await listener.query(`LISTEN ${CHANGE_CHANNEL}`);
        let heard = 0;
        listener.on("notification", () => heard++);
        const log = new PgChangeLog(db);
        await log.record("policy", "org-a");
        await log.record("keys", null);
        await expect(
          db.tx(async (sql) => {
            await recordChange(sql, "agent", "org-a", "agt-1");
            throw new Error("rolled back");
          }),
        ).rejects.toThrow();
        await expect.poll(() => heard, { timeout: 5000 }).toBe(2);
        await new Promise((r) => setTimeout(r, 100));
        expect(heard).toBe(2);
        expect((await log.since(0)).map((c) => c.kind)).toEqual(["policy", "keys"]);
      } finally {
        await listener.end();
        await drop();
      }
    });
  },
);
