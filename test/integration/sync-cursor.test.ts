import { afterEach, describe, expect, it } from "vitest";
import type { AccessClaims } from "../../src/auth/token-claims.js";
import { createOrg } from "../../src/core/bootstrap.js";
import { startSync } from "../../src/core/sync.js";
import { buildTessera } from "../../src/core/tessera.js";
import type { TesseraError } from "../../src/domain/errors.js";
import { openStore, type Store } from "../../src/store/store.js";
import { TEST_SETTINGS } from "../helpers/in-memory.js";
import { tempDir } from "../helpers/server.js";

/**
 * Issue #9 finding 14 / issue #11: a change committed while a worker loads its state was missed
 * by it forever, because the sync cursor was taken after the load. The cursor is taken first now.
 */
describe("a process that starts while others write misses no change", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it("applies a suspension committed between reading the state and starting to sync", async () => {
    const tmp = tempDir();
    const other: Store = openStore(tmp.dir); // another process on the same database
    const org = await createOrg(other, "o", new Date());
    other.agents.insert({
      id: "agt_racer",
      orgId: org.orgId,
      name: "racer",
      tier: "verified",
      roles: [],
      tags: [],
      createdAt: 1,
    });
    const store = openStore(tmp.dir);
    // Right after this process has read the suspended agents, the other one suspends ours.
    const restricted = store.agents.restricted.bind(store.agents);
    store.agents.restricted = () => {
      const rows = restricted();
      other.agents.setSuspended(org.orgId, "agt_racer", true, Math.floor(Date.now() / 1000));
      return rows;
    };
    const t = await buildTessera(store, { ...TEST_SETTINGS, decisionLog: false });
    const stop = startSync(
      store,
      {
        engine: t.engine,
        credentials: t.credentials,
        others: {
          agent: (c) => t.liveness.apply(c),
        },
      },
      { intervalMs: 5, from: t.syncFrom },
    ).stop;
    cleanups.push(() => {
      stop();
      void store.close();
      other.close();
      tmp.cleanup();
    });
    const claims = { sub: "agt_racer", jti: "j1", iat: 1, kind: "agent" } as AccessClaims;
    await expect
      .poll(() => {
        try {
          t.liveness.check(claims);
          return "live";
        } catch (err) {
          return (err as TesseraError).reason;
        }
      })
      .toBe("AGENT_SUSPENDED");
    expect(t.syncFrom).toBeLessThan(store.changes.latest());
  });
});
