import { expect, it } from "vitest";
import type { Async } from "../../../src/store/contract/async.js";
import { CredentialUsageRepository, type UsageDelta } from "../../../src/store/credential-usage.js";
import { PgCredentialUsageRepository } from "../../../src/store/postgres/credential-usage.js";
import { describeBackends, type Opened, seedOrg } from "./backends.js";
import { changeRows, outcome, race, twoReplicas } from "./replicas.js";

function usage(o: Opened): Async<CredentialUsageRepository> {
  return o.kind === "sqlite" ? new CredentialUsageRepository(o.db) : new PgCredentialUsageRepository(o.db);
}

const delta = (orgId: string, credential: string, count: number, lastUsedAt: number): UsageDelta => ({
  orgId,
  credential,
  count,
  lastUsedAt,
});

describeBackends("credential usage repository", (opened) => {
  it("adds batches: counts add up, the latest use wins, each org apart", async () => {
    const o = opened();
    await seedOrg(o, "org_a");
    await seedOrg(o, "org_b");
    const repo = usage(o);
    expect(await repo.ofOrg("org_a")).toEqual(new Map());
    await repo.add([delta("org_a", "api_key:k1", 3, 100), delta("org_b", "api_key:k1", 1, 50)]);
    await repo.add([delta("org_a", "api_key:k1", 2, 90), delta("org_a", "agent:ag1", 1, 120)]);
    expect(await repo.ofOrg("org_a")).toEqual(
      new Map([
        ["api_key:k1", { count: 5, lastUsedAt: 100 }],
        ["agent:ag1", { count: 1, lastUsedAt: 120 }],
      ]),
    );
    expect(await repo.ofOrg("org_b")).toEqual(new Map([["api_key:k1", { count: 1, lastUsedAt: 50 }]]));
    // Counting is no admin change.
    expect(await changeRows(o)).toEqual([]);
  });

  it("adds the same credential twice in one batch", async () => {
    const o = opened();
    await seedOrg(o, "org_a");
    const repo = usage(o);
    await repo.add([delta("org_a", "api_key:k1", 3, 100), delta("org_a", "api_key:k1", 4, 130)]);
    await repo.add([delta("org_a", "api_key:k1", 1, 110), delta("org_a", "api_key:k1", 1, 105)]);
    expect(await repo.ofOrg("org_a")).toEqual(new Map([["api_key:k1", { count: 9, lastUsedAt: 130 }]]));
  });

  it("drops the counts of an org that no longer exists and keeps the rest of the batch", async () => {
    const o = opened();
    await seedOrg(o, "org_a");
    const repo = usage(o);
    await repo.add([]);
    await repo.add([delta("org_gone", "api_key:k1", 3, 100), delta("org_a", "api_key:k2", 2, 100)]);
    expect(await repo.ofOrg("org_gone")).toEqual(new Map());
    expect(await repo.ofOrg("org_a")).toEqual(new Map([["api_key:k2", { count: 2, lastUsedAt: 100 }]]));
  });

  it("two replicas flushing the same credentials at once: both batches count", async () => {
    const o = opened();
    await seedOrg(o, "org_a");
    await seedOrg(o, "org_b");
    await usage(o).add([delta("org_a", "api_key:k1", 1, 10)]);
    const { a, b, close } = await twoReplicas(o);
    try {
      const batch = (n: number, at: number) => [
        delta("org_b", "agent:x", n, at),
        delta("org_a", "api_key:k1", n, at),
        delta("org_a", "agent:y", n, at),
      ];
      const rounds = [];
      for (let i = 0; i < 5; i++)
        rounds.push(
          race(
            () => usage(a).add(batch(2, 100 + i)),
            () => usage(b).add([...batch(3, 200 - i)].reverse()),
          ),
        );
      for (const [ra, rb] of await Promise.all(rounds))
        expect([outcome(ra), outcome(rb)]).toEqual(["ok", "ok"]);
      expect(await usage(o).ofOrg("org_a")).toEqual(
        new Map([
          ["api_key:k1", { count: 26, lastUsedAt: 200 }],
          ["agent:y", { count: 25, lastUsedAt: 200 }],
        ]),
      );
      expect(await usage(o).ofOrg("org_b")).toEqual(new Map([["agent:x", { count: 25, lastUsedAt: 200 }]]));
    } finally {
      await close();
    }
  });
});
