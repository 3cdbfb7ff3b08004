import { afterAll, describe, expect, it, vi } from "vitest";
import { DecisionLog } from "../../src/audit/decision-log.js";
import { type DecisionSink, directSink } from "../../src/audit/decision-sink.js";
import type { DecisionRecord } from "../../src/store/decisions.js";
import { openStore, type Store } from "../../src/store/store.js";
import { tempDir } from "../helpers/server.js";

function record(i: number): DecisionRecord {
  return {
    id: `dec-${i}`,
    orgId: "org",
    atMs: i,
    subjectId: "s",
    scope: "a:b",
    resourceKind: "tool",
    resourceId: "t",
    allowed: i % 2 === 0,
    reason: "ALLOWED_BY_RULE",
    rule: "p/r",
    revision: 1,
  };
}

describe("decision log", () => {
  const tmp = tempDir();
  const store: Store = openStore(tmp.dir);
  const repo = () => store.decisions;
  afterAll(() => {
    store.close();
    tmp.cleanup();
  });

  it("writes nothing on the caller's path, then everything in one batch", async () => {
    const before = repo().count();
    const log = new DecisionLog(directSink(repo()), { flushIntervalMs: 60_000 });
    for (let i = 0; i < 10; i++) expect(log.record(record(i))).toBeUndefined();
    expect(repo().count()).toBe(before);
    await log.close();
    expect(repo().count()).toBe(before + 10);
    expect(log.backlog).toBe(0);
  });

  it("applies backpressure instead of dropping when writes fall behind", async () => {
    const log = new DecisionLog(directSink(repo()), {
      flushIntervalMs: 60_000,
      batchSize: 1_000_000,
      maxPending: 5,
    });
    const waits = Array.from({ length: 8 }, (_, i) => log.record(record(100 + i)));
    expect(waits.slice(0, 4).every((w) => w === undefined)).toBe(true);
    expect(waits.slice(4).every((w) => w instanceof Promise)).toBe(true);
    await log.flush();
    await Promise.all(waits);
    expect(
      repo()
        .recent("org", 1000)
        .filter((r) => r.id.startsWith("dec-10")),
    ).toHaveLength(8);
    await log.close();
  });

  it("keeps a batch that failed to write, in order, and writes it later", async () => {
    const written: DecisionRecord[][] = [];
    const write = vi
      .fn<DecisionSink["write"]>()
      .mockImplementationOnce(async () => {
        throw new Error("disk full");
      })
      .mockImplementation(async (rows) => {
        written.push([...rows]);
      });
    const errors: unknown[] = [];
    const log = new DecisionLog(
      { write, close: async () => {} },
      { flushIntervalMs: 60_000, onError: (e) => errors.push(e) },
    );
    log.record(record(1));
    log.record(record(2));
    await log.flush();
    expect(errors).toHaveLength(1);
    expect(log.backlog).toBe(2);
    log.record(record(3));
    await log.close();
    expect(written.flat().map((r) => r.id)).toEqual(["dec-1", "dec-2", "dec-3"]);
    expect(log.backlog).toBe(0);
  });
});
