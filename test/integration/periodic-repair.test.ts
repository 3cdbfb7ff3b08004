import { afterEach, describe, expect, it } from "vitest";
import { createOrg } from "../../src/core/bootstrap.js";
import { startSync } from "../../src/core/sync.js";
import { buildTessera } from "../../src/core/tessera.js";
import { openStore } from "../../src/store/store.js";
import { TEST_SETTINGS } from "../helpers/in-memory.js";
import { tempDir } from "../helpers/server.js";

/**
 * Issue #11, "every worker current": besides the change log, each process compares its
 * in-memory copies with the store every few seconds and repairs them. A change that reached the
 * database without its change-log entry (a log pruned while a worker was stopped, a bug) is
 * still picked up: here for cross-org trusts and mTLS identity bindings, as for revocations.
 */
describe("a process repairs copies that drifted from the store", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it("picks up a trust and an identity binding written with no change-log entry", async () => {
    const tmp = tempDir();
    const other = openStore(tmp.dir); // another process on the same database
    const a = await createOrg(other, "a", new Date());
    const b = await createOrg(other, "b", new Date());
    const store = openStore(tmp.dir);
    const t = await buildTessera(store, { ...TEST_SETTINGS, decisionLog: false });
    const stop = startSync(
      store,
      { engine: t.engine, credentials: t.credentials, verifiable: [t.orgTrust, t.boundIdentities] },
      { intervalMs: 1, from: t.syncFrom },
    ).stop;
    cleanups.push(() => {
      stop();
      void store.close();
      other.close();
      tmp.cleanup();
    });
    const changesBefore = other.changes.latest();
    other.db
      .prepare("INSERT INTO org_trust (org_id, trusted_org_id, created_at, actor) VALUES (?, ?, 1, 'test')")
      .run(a.orgId, b.orgId);
    other.db
      .prepare(
        "INSERT INTO service_identities (source, identity, org_id, created_at) VALUES ('cn', 'svc-x', ?, 1)",
      )
      .run(b.orgId);
    expect(other.changes.latest()).toBe(changesBefore); // nothing in the change log to apply
    await expect.poll(() => t.orgTrust.trusts(a.orgId, b.orgId), { timeout: 10_000 }).toBe(true);
    await expect
      .poll(() => t.boundIdentities.orgOf({ source: "cn", id: "svc-x" }), { timeout: 10_000 })
      .toBe(b.orgId);
    expect(await t.orgTrust.verify()).toBe(false); // in step now: nothing to repair
  });
});
