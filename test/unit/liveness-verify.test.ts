import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AccessClaims } from "../../src/auth/token-claims.js";
import { createOrg } from "../../src/core/bootstrap.js";
import { Liveness } from "../../src/core/liveness.js";
import type { TesseraError } from "../../src/domain/errors.js";
import { openStore, type Store } from "../../src/store/store.js";
import { tempDir } from "../helpers/server.js";

const NOW = 2_000_000_000;
const claims = (sub: string, jti: string) => ({ sub, jti, iat: NOW - 10, kind: "agent" }) as AccessClaims;
const reasonOf = (l: Liveness, c: AccessClaims) => {
  try {
    l.check(c);
    return "live";
  } catch (err) {
    return (err as TesseraError).reason;
  }
};

/**
 * Issue #11, "every worker current": besides the change log, each process compares its
 * revocations, suspensions and tombstones with the store and repairs itself when they differ.
 */
describe("a process's revocation state checked against the store", () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: Store;
  let liveness: Liveness;
  let orgId = "";
  beforeEach(async () => {
    tmp = tempDir();
    store = openStore(tmp.dir);
    orgId = (await createOrg(store, "o", new Date(NOW * 1000))).orgId;
    store.agents.insert({
      id: "agt_a",
      orgId,
      name: "a",
      tier: "verified",
      roles: [],
      tags: [],
      createdAt: 1,
    });
    liveness = await Liveness.open(store, () => new Date(NOW * 1000), 3610);
  });
  afterEach(() => {
    void store.close();
    tmp.cleanup();
  });

  it("agrees with a store it loaded from, and with changes it applied itself", async () => {
    await liveness.revokeJti("j-own", NOW + 60);
    expect(await liveness.verify()).toBe(false);
    expect(liveness.fingerprint()).toMatchObject({ revocations: 1 });
  });

  it("repairs a revocation, a suspension and a deletion it never heard of", async () => {
    // Written behind its back: no change-log entry reaches it.
    store.db
      .prepare("INSERT INTO revocations (kind, value, expires_at) VALUES ('jti', 'j-missed', ?)")
      .run(NOW + 60);
    store.db
      .prepare("UPDATE agents SET suspended_at = ?, tokens_valid_after = ? WHERE id = 'agt_a'")
      .run(NOW, NOW);
    store.db
      .prepare("INSERT INTO agent_tombstones (id, org_id, deleted_at) VALUES ('agt_gone', ?, ?)")
      .run(orgId, NOW - 5);
    expect(reasonOf(liveness, claims("agt_b", "j-missed"))).toBe("live");
    expect(await liveness.verify()).toBe(true);
    expect(reasonOf(liveness, claims("agt_b", "j-missed"))).toBe("TOKEN_REVOKED");
    expect(reasonOf(liveness, claims("agt_a", "j-1"))).toBe("AGENT_SUSPENDED");
    expect(reasonOf(liveness, claims("agt_gone", "j-2"))).toBe("TOKEN_REVOKED");
    expect(await liveness.verify()).toBe(false);
  });
});
