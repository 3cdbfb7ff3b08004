import { expect, it } from "vitest";
import { ChangeLog } from "../../../src/store/changes.js";
import type { Async } from "../../../src/store/contract/async.js";
import { PgChangeLog } from "../../../src/store/postgres/changes.js";
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
