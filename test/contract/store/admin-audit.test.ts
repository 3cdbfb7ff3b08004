import { expect, it } from "vitest";
import {
  AdminAuditLog,
  type AuditChange,
  noteAuditActor,
  withAuditFrame,
} from "../../../src/store/admin-audit.js";
import type { Async } from "../../../src/store/contract/async.js";
import { PgAdminAuditLog } from "../../../src/store/postgres/admin-audit.js";
import { describeBackends, type Opened } from "./backends.js";

function audit(o: Opened, nowMs: () => number): Async<AdminAuditLog> {
  return o.kind === "sqlite" ? new AdminAuditLog(o.db, nowMs) : new PgAdminAuditLog(o.db, nowMs);
}

const change = (orgId: string | null, action: string, targetId: string): AuditChange => ({
  orgId,
  action,
  targetKind: action.split(".")[0] ?? "",
  targetId,
  before: { name: "old" },
  after: { name: "new", scopes: ["a:b"], token: "secret-never-kept", count: 2, gone: null, ok: true },
});

/** Five records of org_a (at 1000..5000 ms), one of org_b, one server-wide. */
async function seed(o: Opened): Promise<Async<AdminAuditLog>> {
  let now = 0;
  const log = audit(o, () => (now += 1000));
  await log.record(change("org_a", "agent.create", "ag1"));
  await withAuditFrame("req-2", async () => {
    noteAuditActor({ principal: "admin:key_1", method: "admin_token" });
    await log.record(change("org_a", "agent.delete", "ag1"));
  });
  await log.record(change("org_b", "agent.create", "ag9"));
  await withAuditFrame("req-4", async () => {
    noteAuditActor({ principal: "user:u1", method: "user_session" });
    await log.record(change("org_a", "api_key.create", "k1"));
    await log.record(change("org_a", "api_key.revoke", "k1"));
  });
  await log.record(change(null, "signing_key.rotate", "kid"));
  await withAuditFrame(undefined, () => log.record(change("org_a", "agent.create", "ag2")));
  return log;
}

describeBackends("admin audit log", (opened) => {
  it("records a change with the call's actor and request id, its summaries scrubbed of secrets", async () => {
    const log = await seed(opened());
    const all = await log.query({ orgId: "org_a", limit: 100 });
    expect(all).toHaveLength(5);
    expect(all[0]).toEqual({
      seq: all[0]?.seq,
      atMs: 1000,
      orgId: "org_a",
      actor: { principal: "server", method: "system" },
      action: "agent.create",
      targetKind: "agent",
      targetId: "ag1",
      before: { name: "old" },
      after: { name: "new", scopes: ["a:b"], count: 2, gone: null, ok: true },
      requestId: "",
    });
    expect(all[1]).toMatchObject({
      atMs: 2000,
      actor: { principal: "admin:key_1", method: "admin_token" },
      requestId: "req-2",
    });
    expect(all.map((r) => r.atMs)).toEqual([1000, 2000, 4000, 5000, 7000]);
    expect(all[4]?.actor).toEqual({ principal: "server", method: "system" });
  });

  it("pages on seq both ways", async () => {
    const log = await seed(opened());
    const first = await log.query({ orgId: "org_a", limit: 2 });
    expect(first.map((r) => r.atMs)).toEqual([1000, 2000]);
    const next = await log.query({ orgId: "org_a", limit: 2, afterSeq: first[1]?.seq });
    expect(next.map((r) => r.atMs)).toEqual([4000, 5000]);
    const newest = await log.query({ orgId: "org_a", limit: 2, newestFirst: true });
    expect(newest.map((r) => r.atMs)).toEqual([7000, 5000]);
    const older = await log.query({ orgId: "org_a", limit: 10, newestFirst: true, afterSeq: newest[1]?.seq });
    expect(older.map((r) => r.atMs)).toEqual([4000, 2000, 1000]);
    expect(all(await log.query({ orgId: "org_a", limit: 10, afterSeq: older[0]?.seq }))).toEqual([
      5000, 7000,
    ]);
  });

  it("filters by time, actor, action, target and request id (an empty string filters nothing)", async () => {
    const log = await seed(opened());
    const q = async (f: Partial<Parameters<AdminAuditLog["query"]>[0]>) =>
      all(await log.query({ orgId: "org_a", limit: 100, ...f }));
    expect(await q({ fromMs: 2000, toMs: 5000 })).toEqual([2000, 4000]);
    expect(await q({ actor: "user:u1" })).toEqual([4000, 5000]);
    expect(await q({ action: "agent.create" })).toEqual([1000, 7000]);
    expect(await q({ targetKind: "api_key" })).toEqual([4000, 5000]);
    expect(await q({ targetId: "ag1" })).toEqual([1000, 2000]);
    expect(await q({ requestId: "req-4", action: "api_key.revoke" })).toEqual([5000]);
    expect(await q({ actor: "", action: "", requestId: "" })).toEqual([1000, 2000, 4000, 5000, 7000]);
    expect(await q({ actor: "nobody" })).toEqual([]);
    expect(all(await log.query({ orgId: "org_b", limit: 100 }))).toEqual([3000]);
    expect(all(await log.query({ orgId: "org_none", limit: 100 }))).toEqual([]);
  });
});

function all(records: readonly { atMs: number }[]): number[] {
  return records.map((r) => r.atMs);
}
