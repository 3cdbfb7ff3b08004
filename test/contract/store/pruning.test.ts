import { expect, it } from "vitest";
import { prunePgExpired } from "../../../src/store/postgres/pruning.js";
import { pruneExpired, type Retention } from "../../../src/store/pruning.js";
import { describeBackends, insertRows, type Opened, seedOrg, selectRows } from "./backends.js";

/** pruneExpired's contract on either backend: which rows go (bounds included), in batches, and the counts. */

const NOW = 2_000_000_000;
const DAY = 86_400;

function prune(o: Opened, r: Retention, pause?: () => Promise<void>): Promise<Record<string, number>> {
  return o.kind === "sqlite" ? pruneExpired(o.db, o.db, r, pause) : prunePgExpired(o.db, r, pause);
}

const keys = async (o: Opened, table: string, key: string) =>
  (await selectRows<{ k: string }>(o, `SELECT ${key} AS k FROM ${table} ORDER BY ${key}`)).map((r) =>
    String(r.k),
  );

/** `n` revocations that expired a second ago, in one statement. */
async function expiredRevocations(o: Opened, n: number): Promise<void> {
  if (o.kind === "sqlite") {
    const insert = o.db.prepare("INSERT INTO revocations (kind, value, expires_at) VALUES ('jti', ?, ?)");
    o.db.transaction(() => {
      for (let i = 0; i < n; i++) insert.run(`old${i}`, NOW - 1);
    })();
  } else {
    await o.db.query(
      "INSERT INTO revocations (kind, value, expires_at) SELECT 'jti', 'old' || i, $1 FROM generate_series(0, $2 - 1) AS i",
      [NOW - 1, n],
    );
  }
}

async function seed(o: Opened, expired = 3): Promise<void> {
  await seedOrg(o, "o");
  await expiredRevocations(o, expired);
  await insertRows(o, "revocations", [
    { kind: "family", value: "at-now", expires_at: NOW },
    { kind: "jti", value: "live", expires_at: NOW + 1 },
  ]);
  const rt = (id: string, expires: number) => ({
    id,
    family_id: "f",
    digest: Buffer.from(id),
    org_id: "o",
    subject_kind: "agent",
    subject_id: "a",
    issued_at: 0,
    expires_at: expires,
  });
  await insertRows(o, "refresh_tokens", [
    rt("rt_old", NOW - 1),
    rt("rt_at_now", NOW),
    rt("rt_live", NOW + 1),
  ]);
  // Assertion ids stay 600 s past their expiry.
  await insertRows(o, "used_assertions", [
    { jti: "old", agent_id: "a", expires_at: NOW - 601 },
    { jti: "at-bound", agent_id: "a", expires_at: NOW - 600 },
    { jti: "recent", agent_id: "a", expires_at: NOW - 10 },
  ]);
  await insertRows(o, "agent_tombstones", [
    { id: "agt_old", org_id: "o", deleted_at: NOW - 3601 },
    { id: "agt_at_bound", org_id: "o", deleted_at: NOW - 3600 },
    { id: "agt_new", org_id: "o", deleted_at: NOW - 60 },
  ]);
  const bound = (NOW - 30 * DAY) * 1000;
  const seg = (t: number) => ({ org_id: "o", first_at_ms: t - 5000, last_at_ms: t, count: 1, records: "[]" });
  await insertRows(o, "decision_segments", [seg(bound - 1), seg(bound), seg((NOW - 60) * 1000)]);
  const over = (end: number) => ({
    org_id: "o",
    window_start_ms: end - 60_000,
    window_end_ms: end,
    dropped: 1,
    allowed: 1,
    denied: 0,
    dropped_bytes: 10,
  });
  await insertRows(o, "decision_overflow", [over(bound - 1), over(bound), over((NOW - 60) * 1000)]);
  const week = (NOW - 7 * DAY) * 1000;
  await insertRows(o, "decision_batches", [
    { batch_id: "old", written_at_ms: week - 1 },
    { batch_id: "at-bound", written_at_ms: week },
    { batch_id: "new", written_at_ms: (NOW - 60) * 1000 },
  ]);
}

const RETENTION: Retention = { nowSec: NOW, tombstoneSeconds: 3600, decisionSeconds: 30 * DAY };

describeBackends("pruning", (opened) => {
  it("deletes exactly the rows past their bound, and reports how many each table lost", async () => {
    const o = opened();
    await seed(o);
    expect(await prune(o, RETENTION)).toEqual({
      revocations: 4,
      refresh_tokens: 2,
      used_assertions: 1,
      agent_tombstones: 2,
      decision_segments: 1,
      decision_overflow: 1,
      decision_batches: 1,
    });
    expect(await keys(o, "revocations", "value")).toEqual(["live"]);
    expect(await keys(o, "refresh_tokens", "id")).toEqual(["rt_live"]);
    expect(await keys(o, "used_assertions", "jti")).toEqual(["at-bound", "recent"]);
    expect(await keys(o, "agent_tombstones", "id")).toEqual(["agt_new"]);
    const bound = (NOW - 30 * DAY) * 1000;
    expect((await keys(o, "decision_segments", "last_at_ms")).map(Number)).toEqual([
      bound,
      (NOW - 60) * 1000,
    ]);
    expect((await keys(o, "decision_overflow", "window_end_ms")).map(Number)).toEqual([
      bound,
      (NOW - 60) * 1000,
    ]);
    expect(await keys(o, "decision_batches", "batch_id")).toEqual(["at-bound", "new"]);
    // A second pass finds nothing.
    expect(Object.values(await prune(o, RETENTION)).every((n) => n === 0)).toBe(true);
  });

  it("deletes in batches of 500, pausing between them", async () => {
    const o = opened();
    await seed(o, 1200);
    let pauses = 0;
    const deleted = await prune(o, RETENTION, async () => {
      pauses++;
    });
    expect(deleted.revocations).toBe(1201);
    expect(pauses).toBe(2);
    expect(await keys(o, "revocations", "value")).toEqual(["live"]);
  });

  it("keeps decisions forever when retention is 0, but batch ids only a week", async () => {
    const o = opened();
    await seed(o);
    const deleted = await prune(o, { ...RETENTION, decisionSeconds: 0 });
    expect(deleted.decision_segments).toBeUndefined();
    expect(deleted.decision_overflow).toBeUndefined();
    expect(deleted.decision_batches).toBe(1);
    expect(await keys(o, "decision_segments", "seq")).toHaveLength(3);
    expect(await keys(o, "decision_overflow", "seq")).toHaveLength(3);
  });

  it("keeps batch ids no longer than the decisions they guard", async () => {
    const o = opened();
    await seed(o);
    const deleted = await prune(o, { ...RETENTION, decisionSeconds: 3600 });
    expect(deleted.decision_batches).toBe(2);
    expect(deleted.decision_segments).toBe(2);
    expect(await keys(o, "decision_batches", "batch_id")).toEqual(["new"]);
  });
});
