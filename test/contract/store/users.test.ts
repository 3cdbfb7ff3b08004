import { expect, it } from "vitest";
import type { Async } from "../../../src/store/contract/async.js";
import { PgLoginFailureRepository, PgUserRepository } from "../../../src/store/postgres/users.js";
import { LoginFailureRepository, UserRepository, type UserRow } from "../../../src/store/users.js";
import { describeBackends, insertRows, type Opened, seedOrg, selectRows } from "./backends.js";

function userRepo(o: Opened): Async<UserRepository> {
  return o.kind === "sqlite" ? new UserRepository(o.db) : new PgUserRepository(o.db);
}

function failureRepo(o: Opened): Async<LoginFailureRepository> {
  return o.kind === "sqlite" ? new LoginFailureRepository(o.db) : new PgLoginFailureRepository(o.db);
}

const user = (id: string, orgId: string, username: string, createdAt = 100): UserRow => ({
  id,
  orgId,
  username,
  passwordHash: `hash-of-${id}`,
  role: "operator",
  createdAt,
});

const changes = (o: Opened) => selectRows(o, "SELECT kind, org_id, ref FROM changes ORDER BY seq");

interface AuditRow {
  org_id: string | null;
  action: string;
  target_kind: string;
  target_id: string;
  before: string | null;
  after: string | null;
}

async function audits(o: Opened) {
  const rows = await selectRows<AuditRow>(
    o,
    "SELECT org_id, action, target_kind, target_id, before, after FROM admin_audit ORDER BY seq",
  );
  return rows.map((r) => ({
    ...r,
    before: r.before === null ? null : JSON.parse(r.before),
    after: r.after === null ? null : JSON.parse(r.after),
  }));
}

const failureRows = (o: Opened) =>
  selectRows(o, "SELECT org_id, username, failures FROM login_failures ORDER BY org_id, username");

const knownRows = (o: Opened) =>
  selectRows(o, "SELECT user_id, source FROM login_known_sources ORDER BY user_id, source");

describeBackends("users", (opened) => {
  it("inserts a user once per (org, username), audits it, and finds it by id and name within its org", async () => {
    const o = opened();
    await seedOrg(o, "org-a");
    await seedOrg(o, "org-b");
    const repo = userRepo(o);
    const alice = user("usr_1", "org-a", "alice");
    expect(await repo.insert(alice)).toBe(true);
    expect(await repo.insert({ ...user("usr_2", "org-a", "alice"), role: "admin" })).toBe(false);
    expect(await repo.insert(user("usr_3", "org-b", "alice"))).toBe(true);
    expect(await repo.get("org-a", "usr_1")).toEqual(alice);
    expect(await repo.get("org-b", "usr_1")).toBeUndefined();
    expect(await repo.get("org-a", "usr_2")).toBeUndefined();
    expect(await repo.byUsername("org-a", "alice")).toEqual(alice);
    expect((await repo.byUsername("org-b", "alice"))?.id).toBe("usr_3");
    expect(await repo.byUsername("org-a", "bob")).toBeUndefined();
    expect(await audits(o)).toEqual([
      {
        org_id: "org-a",
        action: "user.create",
        target_kind: "user",
        target_id: "usr_1",
        before: null,
        after: { username: "alice", role: "operator" },
      },
      {
        org_id: "org-b",
        action: "user.create",
        target_kind: "user",
        target_id: "usr_3",
        before: null,
        after: { username: "alice", role: "operator" },
      },
    ]);
    expect(await changes(o)).toEqual([]);
  });

  it("lists an org's users oldest first (then by id), and no other org's", async () => {
    const o = opened();
    await seedOrg(o, "org-a");
    await seedOrg(o, "org-b");
    const repo = userRepo(o);
    await repo.insert(user("usr_c", "org-a", "carol", 200));
    await repo.insert(user("usr_b", "org-a", "bob", 100));
    await repo.insert(user("usr_a", "org-a", "ann", 200));
    await repo.insert(user("usr_x", "org-b", "xavier", 50));
    expect((await repo.list("org-a")).map((u) => u.id)).toEqual(["usr_b", "usr_a", "usr_c"]);
    expect((await repo.list("org-b")).map((u) => u.id)).toEqual(["usr_x"]);
    expect(await repo.list("org-none")).toEqual([]);
  });

  it("setPassword replaces the hash, forgets that user's failures and known sources, and audits it", async () => {
    const o = opened();
    await seedOrg(o, "org-a");
    await seedOrg(o, "org-b");
    const repo = userRepo(o);
    await repo.insert(user("usr_1", "org-a", "alice"));
    await repo.insert(user("usr_2", "org-a", "bob"));
    await repo.insert(user("usr_3", "org-b", "alice"));
    await insertRows(
      o,
      "login_failures",
      [
        ["org-a", "alice"],
        ["org-a", "bob"],
        ["org-b", "alice"],
      ].map(([org_id, username]) => ({ org_id, username, failures: 3, locked_until: 0, last_failure_at: 1 })),
    );
    await insertRows(
      o,
      "login_known_sources",
      ["usr_1", "usr_2"].map((user_id) => ({ user_id, source: "ip:192.0.2.1", last_success_at: 1 })),
    );
    const before = (await audits(o)).length;

    expect(await repo.setPassword("org-a", "usr_1", "new-hash")).toBe(true);
    expect((await repo.get("org-a", "usr_1"))?.passwordHash).toBe("new-hash");
    expect((await repo.get("org-a", "usr_2"))?.passwordHash).toBe("hash-of-usr_2");
    expect(await failureRows(o)).toEqual([
      { org_id: "org-a", username: "bob", failures: 3 },
      { org_id: "org-b", username: "alice", failures: 3 },
    ]);
    expect(await knownRows(o)).toEqual([{ user_id: "usr_2", source: "ip:192.0.2.1" }]);
    expect((await audits(o)).slice(before)).toEqual([
      {
        org_id: "org-a",
        action: "user.set_password",
        target_kind: "user",
        target_id: "usr_1",
        before: null,
        after: null,
      },
    ]);
    expect(await changes(o)).toEqual([]);
  });

  it("setPassword is false for an unknown user or another org's, and writes nothing", async () => {
    const o = opened();
    await seedOrg(o, "org-a");
    await seedOrg(o, "org-b");
    const repo = userRepo(o);
    await repo.insert(user("usr_1", "org-a", "alice"));
    await insertRows(o, "login_failures", [
      { org_id: "org-b", username: "alice", failures: 2, locked_until: 0, last_failure_at: 1 },
    ]);
    const before = await audits(o);
    expect(await repo.setPassword("org-b", "usr_1", "new-hash")).toBe(false);
    expect(await repo.setPassword("org-a", "usr_none", "new-hash")).toBe(false);
    expect((await repo.get("org-a", "usr_1"))?.passwordHash).toBe("hash-of-usr_1");
    expect(await failureRows(o)).toHaveLength(1);
    expect(await audits(o)).toEqual(before);
  });

  it("hashIs and upgradeHash compare with the stored hash; orgExists knows the orgs", async () => {
    const o = opened();
    await seedOrg(o, "org-a");
    const repo = userRepo(o);
    await repo.insert(user("usr_1", "org-a", "alice"));
    expect(await repo.hashIs("org-a", "usr_1", "hash-of-usr_1")).toBe(true);
    expect(await repo.hashIs("org-a", "usr_1", "other")).toBe(false);
    expect(await repo.hashIs("org-b", "usr_1", "hash-of-usr_1")).toBe(false);
    expect(await repo.upgradeHash("org-a", "usr_1", "stale", "next")).toBe(false);
    expect(await repo.hashIs("org-a", "usr_1", "hash-of-usr_1")).toBe(true);
    expect(await repo.upgradeHash("org-a", "usr_1", "hash-of-usr_1", "next")).toBe(true);
    expect(await repo.hashIs("org-a", "usr_1", "next")).toBe(true);
    expect(await repo.upgradeHash("org-a", "usr_none", "next", "again")).toBe(false);
    expect(await repo.orgExists("org-a")).toBe(true);
    expect(await repo.orgExists("org-b")).toBe(false);
    // A rehash is not an admin change.
    expect((await audits(o)).map((a) => a.action)).toEqual(["user.create"]);
    expect(await changes(o)).toEqual([]);
  });

  it("deletes a user once, auditing what it was", async () => {
    const o = opened();
    await seedOrg(o, "org-a");
    await seedOrg(o, "org-b");
    const repo = userRepo(o);
    await repo.insert(user("usr_1", "org-a", "alice"));
    expect(await repo.delete("org-b", "usr_1")).toBe(false);
    expect(await repo.delete("org-a", "usr_1")).toBe(true);
    expect(await repo.get("org-a", "usr_1")).toBeUndefined();
    expect(await repo.delete("org-a", "usr_1")).toBe(false);
    expect((await audits(o)).slice(1)).toEqual([
      {
        org_id: "org-a",
        action: "user.delete",
        target_kind: "user",
        target_id: "usr_1",
        before: { username: "alice", role: "operator" },
        after: null,
      },
    ]);
    expect(await changes(o)).toEqual([]);
  });
});

describeBackends("login failures", (opened) => {
  const policy = { maxFailures: 3, lockSeconds: 60 };

  it("counts failures per (org, username) and locks from the threshold on", async () => {
    const o = opened();
    const repo = failureRepo(o);
    expect(await repo.get("org-a", "alice")).toBeUndefined();
    expect(await repo.charge("org-a", "alice", 1000, policy)).toBe(1);
    expect(await repo.charge("org-a", "alice", 1001, policy)).toBe(2);
    expect(await repo.get("org-a", "alice")).toEqual({ failures: 2, lockedUntil: 0 });
    expect(await repo.charge("org-a", "alice", 1002, policy)).toBe(3);
    expect(await repo.get("org-a", "alice")).toEqual({ failures: 3, lockedUntil: 1062 });
    // Every further failure locks again, from its own time.
    expect(await repo.charge("org-a", "alice", 1100, policy)).toBe(4);
    expect(await repo.get("org-a", "alice")).toEqual({ failures: 4, lockedUntil: 1160 });
    expect(await repo.charge("org-b", "alice", 1000, policy)).toBe(1);
    expect(await repo.charge("org-a", "bob", 1000, { maxFailures: 1, lockSeconds: 5 })).toBe(1);
    expect(await repo.get("org-a", "bob")).toEqual({ failures: 1, lockedUntil: 1005 });
    expect(
      await selectRows(o, "SELECT last_failure_at FROM login_failures WHERE org_id = ? AND username = ?", [
        "org-a",
        "alice",
      ]),
    ).toEqual([{ last_failure_at: 1100 }]);
    expect(await changes(o)).toEqual([]);
    expect(await audits(o)).toEqual([]);
  });

  it("clears one (org, username)", async () => {
    const o = opened();
    const repo = failureRepo(o);
    await repo.charge("org-a", "alice", 1000, policy);
    await repo.charge("org-b", "alice", 1000, policy);
    await repo.clear("org-a", "alice");
    expect(await repo.get("org-a", "alice")).toBeUndefined();
    expect(await repo.get("org-b", "alice")).toEqual({ failures: 1, lockedUntil: 0 });
  });

  it("prunes only rows no longer locked whose last failure is older than the bound", async () => {
    const o = opened();
    const repo = failureRepo(o);
    await repo.charge("org-a", "old", 1000, policy);
    await repo.charge("org-a", "recent", 2000, policy);
    for (const t of [1000, 1001, 1002])
      await repo.charge("org-a", "locked", t, { maxFailures: 3, lockSeconds: 5000 });
    await repo.prune(3000, 1500);
    expect((await failureRows(o)).map((r) => (r as { username: string }).username)).toEqual([
      "locked",
      "recent",
    ]);
  });
});
