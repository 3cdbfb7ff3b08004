import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AuditQueries } from "../../src/core/audit-query.js";
import { TesseraError } from "../../src/domain/errors.js";
import type { DecisionRecord } from "../../src/store/decisions.js";
import { openStore, type Store } from "../../src/store/store.js";
import { tempDir } from "../helpers/server.js";

/**
 * Issue #13, QueryDecisions over a real SQLite file: filters, time ranges picked by segment
 * bounds, keyset cursors both ways (every record once), a cursor that follows new segments
 * (the tail), one org never seeing another's, and a forged cursor refused.
 */

const T0 = 1_800_000_000_000;

function rec(orgId: string, i: number, over: Partial<DecisionRecord> = {}): DecisionRecord {
  return {
    id: `d${orgId}${i}`,
    orgId,
    atMs: T0 + i * 1000,
    subjectId: `agent-${i % 3}`,
    scope: i % 2 ? "reports:read" : "reports:write",
    resourceKind: "report",
    resourceId: `r${i % 5}`,
    allowed: i % 4 !== 0,
    reason: i % 4 !== 0 ? "RULE_MATCHED" : "NO_MATCHING_RULE",
    rule: i % 4 !== 0 ? "reads" : "",
    revision: 1,
    caller: i % 2 ? "api_key:k1" : "spiffe:spiffe://x/y",
    ...over,
  };
}

describe("QueryDecisions over the segment store", () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: Store;
  let q: AuditQueries;

  beforeEach(() => {
    tmp = tempDir();
    store = openStore(tmp.dir);
    q = new AuditQueries(store.adminAudit, store.decisionQuery);
    // 100 decisions of org A in 10 segments of 10 (one per batch), interleaved with org B's.
    for (let s = 0; s < 10; s++) {
      store.decisions.insert(Array.from({ length: 10 }, (_, k) => rec("A", s * 10 + k)));
      store.decisions.insert(Array.from({ length: 3 }, (_, k) => rec("B", s * 3 + k)));
    }
  });
  afterEach(() => {
    void store.close();
    tmp.cleanup();
  });

  const all = async (input: Parameters<AuditQueries["queryDecisions"]>[0], pageSize: number) => {
    const out: DecisionRecord[] = [];
    let cursor = "";
    for (let i = 0; i < 1000; i++) {
      const page = await q.queryDecisions({ ...input, cursor, limit: pageSize });
      out.push(...page.records);
      cursor = page.nextCursor;
      if (!page.hasMore) return out;
    }
    throw new Error("never ended");
  };

  it("pages through every decision once, oldest first or newest first, whatever the page size", async () => {
    const ids = Array.from({ length: 100 }, (_, i) => `dA${i}`);
    for (const size of [1, 7, 10, 100, 1000]) {
      expect((await all({ orgId: "A" }, size)).map((r) => r.id)).toEqual(ids);
      expect((await all({ orgId: "A", newestFirst: true }, size)).map((r) => r.id)).toEqual(
        [...ids].reverse(),
      );
    }
  });

  it("filters by time range, principal, caller, scope, decision, reason, rule and resource", async () => {
    const range = (await all({ orgId: "A", fromMs: T0 + 25_000, toMs: T0 + 43_000 }, 4)).map((r) => r.id);
    expect(range).toEqual(Array.from({ length: 18 }, (_, i) => `dA${25 + i}`));
    const want = (f: (r: DecisionRecord) => boolean) =>
      Array.from({ length: 100 }, (_, i) => rec("A", i))
        .filter(f)
        .map((r) => r.id);
    const ids = async (input: Omit<Parameters<AuditQueries["queryDecisions"]>[0], "orgId">) =>
      (await all({ orgId: "A", ...input }, 6)).map((r) => r.id);
    expect(await ids({ subjectId: "agent-1" })).toEqual(want((r) => r.subjectId === "agent-1"));
    expect(await ids({ caller: "api_key:k1" })).toEqual(want((r) => r.caller === "api_key:k1"));
    expect(await ids({ scope: "reports:write", allowed: false })).toEqual(
      want((r) => r.scope === "reports:write" && !r.allowed),
    );
    expect(await ids({ reason: "NO_MATCHING_RULE" })).toEqual(want((r) => r.reason === "NO_MATCHING_RULE"));
    expect(await ids({ rule: "reads", resourceKind: "report", resourceId: "r2" })).toEqual(
      want((r) => r.rule === "reads" && r.resourceId === "r2"),
    );
    expect(await ids({ subjectId: "nobody" })).toEqual([]);
    // Segments are skipped on the text of a wanted value: one needing JSON escapes is still found.
    const odd = 'q"uo\\te é\u2028';
    store.decisions.insert([rec("A", 200, { id: "odd", subjectId: odd })]);
    expect(await ids({ subjectId: odd })).toEqual(["odd"]);
  });

  it("never shows one org's decisions to another", async () => {
    expect((await all({ orgId: "B" }, 5)).map((r) => r.id)).toEqual(
      Array.from({ length: 30 }, (_, i) => `dB${i}`),
    );
    expect(await all({ orgId: "C" }, 5)).toEqual([]);
    // A cursor handed to org A only says where to read; with it org B still reads only its own.
    const aCursor = (await q.queryDecisions({ orgId: "A", limit: 95 })).nextCursor;
    const bAfter = (await q.queryDecisions({ orgId: "B", cursor: aCursor, limit: 1000 })).records;
    expect(bAfter.every((r) => r.orgId === "B" && r.id.startsWith("dB"))).toBe(true);
  });

  it("a cursor at the end follows decisions logged later (the tail)", async () => {
    const first = await q.queryDecisions({ orgId: "A", fromMs: T0 + 99_000, limit: 1000 });
    expect(first.records.map((r) => r.id)).toEqual(["dA99"]);
    const idle = await q.queryDecisions({
      orgId: "A",
      fromMs: T0 + 99_000,
      cursor: first.nextCursor,
      limit: 1000,
    });
    expect(idle.records).toEqual([]);
    store.decisions.insert([rec("B", 900), rec("A", 100), rec("A", 101)]);
    const next = await q.queryDecisions({
      orgId: "A",
      fromMs: T0 + 99_000,
      cursor: idle.nextCursor,
      limit: 1000,
    });
    expect(next.records.map((r) => r.id)).toEqual(["dA100", "dA101"]);
    // A batch that arrives late with older decisions (a spill moved in after a crash) is still seen.
    store.decisions.insert([rec("A", 150, { id: "late", atMs: T0 + 99_500 })]);
    const late = await q.queryDecisions({
      orgId: "A",
      fromMs: T0 + 99_000,
      cursor: next.nextCursor,
      limit: 1000,
    });
    expect(late.records.map((r) => r.id)).toEqual(["late"]);
  });

  it("stops after a bounded scan when the filter matches little, and says there is more", async () => {
    q = new AuditQueries(store.adminAudit, store.decisionQuery, 500);
    const many = Array.from({ length: 510 }, (_, i) => rec("D", i, { subjectId: "x" }));
    for (let i = 0; i < many.length; i += 50) store.decisions.insert(many.slice(i, i + 50));
    store.decisions.insert([rec("D", 0, { id: "needle", subjectId: "needle" })]);
    const first = await q.queryDecisions({ orgId: "D", subjectId: "needle", limit: 10 });
    expect(first.records).toEqual([]);
    expect(first.hasMore).toBe(true);
    const second = await q.queryDecisions({
      orgId: "D",
      subjectId: "needle",
      limit: 10,
      cursor: first.nextCursor,
    });
    expect(second.records.map((r) => r.id)).toEqual(["needle"]);
  });

  it("refuses a cursor it did not hand out", async () => {
    for (const cursor of [
      "garbage!",
      Buffer.from("a1:5").toString("base64url"),
      Buffer.from("d1:x:1").toString("base64url"),
    ]) {
      let reason = "";
      try {
        await q.queryDecisions({ orgId: "A", cursor });
      } catch (err) {
        reason = err instanceof TesseraError ? err.reason : String(err);
      }
      expect(reason).toBe("CURSOR_INVALID");
    }
  });
});
