import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TesseraError } from "../../../src/domain/errors.js";
import type { Async } from "../../../src/store/contract/async.js";
import { PgDb } from "../../../src/store/postgres/pg-db.js";
import { PgSigningKeyRepository } from "../../../src/store/postgres/signing-keys.js";
import {
  SigningKeyRepository,
  type SigningKeyRow,
  type SigningKeyState,
} from "../../../src/store/signing-keys.js";
import { openTestPg, pgSkipReason } from "../../helpers/pg.js";
import { describeBackends, type Opened, selectRows } from "./backends.js";
import { meeting } from "./meeting.js";

type Keys = Async<SigningKeyRepository>;

function signingKeys(o: Opened): Keys {
  return o.kind === "sqlite" ? new SigningKeyRepository(o.db) : new PgSigningKeyRepository(o.db);
}

const T0 = 1_700_000_000;
const RETIRE = 3610;

function key(kid: string, state: SigningKeyState, createdAt = T0, publishedUntil?: number): SigningKeyRow {
  const publicJwk = JSON.stringify({
    kty: "OKP",
    crv: "Ed25519",
    x: `x-${kid}`,
    kid,
    alg: "EdDSA",
    use: "sig",
  });
  return { kid, alg: "EdDSA", publicJwk, privateJwk: `private-${kid}`, state, createdAt, publishedUntil };
}

const states = async (r: Keys) => (await r.all()).map((k) => `${k.kid}:${k.state}`);

/**
 * A transaction body written once for both backends: each `yield` hands a repository call's
 * answer back to it, as it is inside better-sqlite3's synchronous transaction (SQLite), awaited
 * inside the pool's (PostgreSQL).
 */
type Body<T> = Generator<unknown, T, unknown>;

async function inTransaction<T>(kind: Opened["kind"], r: Keys, body: () => Body<T>): Promise<T> {
  if (kind === "sqlite") {
    return r.transaction(() => {
      const g = body();
      let step = g.next();
      while (!step.done) step = g.next(step.value);
      return step.value;
    }) as T;
  }
  return r.transaction(async () => {
    const g = body();
    let step = g.next();
    while (!step.done) step = g.next(await step.value);
    return step.value;
  }) as Promise<T>;
}

/** KeyRing.ensure's decisions: an active key and a next key, made from `spare` when missing. */
function* ensure(r: Keys, spare: readonly SigningKeyRow[], pause?: () => Promise<void>): Body<boolean> {
  let changed = false;
  const active = (yield r.inState("active")) as SigningKeyRow[];
  if (pause) yield pause();
  if (active.length === 0) {
    const next = ((yield r.inState("next")) as SigningKeyRow[])[0];
    yield next ? r.setState(next.kid, "active") : r.insert(spare[0] as SigningKeyRow);
    changed = true;
  }
  if (((yield r.inState("next")) as SigningKeyRow[]).length === 0) {
    yield r.insert(spare[1] as SigningKeyRow);
    changed = true;
  }
  if (changed) yield r.recordChange();
  return changed;
}

/**
 * KeyRing.rotateWhen's transaction: the next key signs, the active ones retire, `fresh` is the
 * new next key. With `every`, only when the next key is at least that old at `now`.
 */
function* rotate(
  r: Keys,
  fresh: SigningKeyRow,
  now: number,
  opts: { every?: number; pause?: () => Promise<void> } = {},
): Body<boolean> {
  const nexts = (yield r.inState("next")) as SigningKeyRow[];
  if (opts.pause) yield opts.pause();
  const last = Math.max(0, ...nexts.map((k) => k.createdAt));
  if (opts.every !== undefined && now - last < opts.every) return false;
  const next = nexts[0];
  if (!next) throw new TesseraError("NO_SIGNING_KEY", "no next key is published to take over");
  for (const old of (yield r.inState("active")) as SigningKeyRow[]) {
    yield r.setState(old.kid, "retired", now + RETIRE);
    yield r.setPrivateJwk(old.kid, "");
  }
  yield r.setState(next.kid, "active");
  yield r.insert(fresh);
  yield r.deleteExpired(now);
  yield r.recordChange();
  return true;
}

const changes = (o: Opened) =>
  selectRows<{ kind: string; org_id: string | null; ref: string | null }>(
    o,
    "SELECT kind, org_id, ref FROM changes ORDER BY seq",
  );

const audits = async (o: Opened) =>
  (
    await selectRows<{
      org_id: string | null;
      actor: string;
      action: string;
      target_kind: string;
      target_id: string;
      before: string | null;
      after: string;
    }>(o, "SELECT org_id, actor, action, target_kind, target_id, before, after FROM admin_audit ORDER BY seq")
  ).map((a) => ({ ...a, after: JSON.parse(a.after) }));

describeBackends("signing key repository", (opened) => {
  it("stores keys and lists them oldest first (then by kid, byte order), all or by state", async () => {
    const r = signingKeys(opened());
    await r.insert(key("a", "next", T0 + 10));
    await r.insert(key("Z", "active", T0));
    await r.insert(key("a0", "active", T0));
    await r.insert(key("old", "retired", T0 - 100, T0 + 50));
    expect(await r.all()).toEqual([
      key("old", "retired", T0 - 100, T0 + 50),
      key("Z", "active", T0),
      key("a0", "active", T0),
      key("a", "next", T0 + 10),
    ]);
    expect((await r.inState("active")).map((k) => k.kid)).toEqual(["Z", "a0"]);
    expect(await r.inState("next")).toEqual([key("a", "next", T0 + 10)]);
    expect(await r.inState("retired")).toEqual([key("old", "retired", T0 - 100, T0 + 50)]);
    const [first] = await r.all();
    expect(first?.publishedUntil).toBe(T0 + 50);
    expect((await r.inState("next"))[0]?.publishedUntil).toBeUndefined();
  });

  it("refuses a second key with the same kid", async () => {
    const r = signingKeys(opened());
    await r.insert(key("k1", "active"));
    await expect(async () => r.insert(key("k1", "next"))).rejects.toThrow();
    expect(await states(r)).toEqual(["k1:active"]);
  });

  it("moves keys between states, with and without an end of publication, and replaces private halves", async () => {
    const r = signingKeys(opened());
    await r.insert(key("k1", "active"));
    await r.insert(key("k2", "next", T0 + 1));
    await r.setState("k1", "retired", T0 + 99);
    await r.setPrivateJwk("k1", "");
    await r.setState("k2", "active");
    await r.setState("missing", "active");
    expect(await r.all()).toEqual([
      { ...key("k1", "retired", T0, T0 + 99), privateJwk: "" },
      key("k2", "active", T0 + 1),
    ]);
    // A state set without an end clears the one there was.
    await r.setState("k1", "next");
    expect((await r.inState("next"))[0]).toEqual({ ...key("k1", "next"), privateJwk: "" });
    await r.setPrivateJwk("k2", "sealed:v1:abc");
    expect((await r.inState("active"))[0]?.privateJwk).toBe("sealed:v1:abc");
  });

  it("bounds only retired keys without an end, and deletes only retired keys past theirs", async () => {
    const o = opened();
    const r = signingKeys(o);
    await r.insert(key("r-open", "retired"));
    await r.insert(key("r-early", "retired", T0, T0 + 10));
    await r.insert(key("r-late", "retired", T0, T0 + 20));
    await r.insert(key("act", "active"));
    await r.insert(key("nxt", "next"));
    expect(await r.bound(T0 + 30)).toBe(1);
    expect(await r.bound(T0 + 99)).toBe(0);
    expect((await r.inState("retired")).map((k) => [k.kid, k.publishedUntil])).toEqual([
      ["r-early", T0 + 10],
      ["r-late", T0 + 20],
      ["r-open", T0 + 30],
    ]);
    expect(await r.deleteExpired(T0 + 9)).toBe(0);
    expect(await r.deleteExpired(T0 + 20)).toBe(2);
    expect(await states(r)).toEqual(["act:active", "nxt:next", "r-open:retired"]);
    expect(await r.deleteExpired(T0 + 1_000_000)).toBe(1);
    expect(await states(r)).toEqual(["act:active", "nxt:next"]);
    // None of these is a recorded change by itself.
    expect(await changes(o)).toEqual([]);
  });

  it("records a keys change and an audit row of the kids and states, never key material", async () => {
    const o = opened();
    const r = signingKeys(o);
    await r.insert(key("k1", "active"));
    await r.insert(key("k2", "next", T0 + 1));
    await r.recordChange();
    expect(await changes(o)).toEqual([{ kind: "keys", org_id: null, ref: null }]);
    expect(await audits(o)).toEqual([
      {
        org_id: null,
        actor: "server",
        action: "signing_keys.change",
        target_kind: "signing_keys",
        target_id: "",
        before: null,
        after: { keys: ["k1:active", "k2:next"] },
      },
    ]);
  });

  it("runs a transaction: its answer, and all of its writes or none", async () => {
    const o = opened();
    const r = signingKeys(o);
    expect(await r.transaction(() => 42)).toBe(42);
    const failing = inTransaction(o.kind, r, function* () {
      yield r.insert(key("k1", "active"));
      yield r.recordChange();
      throw new TesseraError("NO_SIGNING_KEY", "abort");
    });
    await expect(failing).rejects.toMatchObject({ reason: "NO_SIGNING_KEY" });
    expect(await r.all()).toEqual([]);
    expect(await changes(o)).toEqual([]);
    expect(await audits(o)).toEqual([]);
    expect(await inTransaction(o.kind, r, () => ensure(r, [key("k1", "active"), key("k2", "next")]))).toBe(
      true,
    );
    expect(await states(r)).toEqual(["k1:active", "k2:next"]);
    expect(await inTransaction(o.kind, r, () => ensure(r, [key("k3", "active"), key("k4", "next")]))).toBe(
      false,
    );
    expect(await changes(o)).toHaveLength(1);
  });

  it("rotates as KeyRing does: next signs, active retires with an end and no private half, a new next", async () => {
    const o = opened();
    const r = signingKeys(o);
    await r.insert(key("gone", "retired", T0 - 9000, T0 - 1));
    await r.insert(key("k1", "active", T0));
    await r.insert(key("k2", "next", T0 + 1));
    const now = T0 + 100;
    expect(await inTransaction(o.kind, r, () => rotate(r, key("k3", "next", now), now))).toBe(true);
    expect(await r.all()).toEqual([
      { ...key("k1", "retired", T0, now + RETIRE), privateJwk: "" },
      key("k2", "active", T0 + 1),
      key("k3", "next", now),
    ]);
    expect(await changes(o)).toEqual([{ kind: "keys", org_id: null, ref: null }]);
    expect((await audits(o)).map((a) => a.after)).toEqual([{ keys: ["k1:retired", "k2:active", "k3:next"] }]);
    // Not yet due: nothing changes.
    const early = () => rotate(r, key("k4", "next", now + 10), now + 10, { every: 60 });
    expect(await inTransaction(o.kind, r, early)).toBe(false);
    expect(await changes(o)).toHaveLength(1);
  });
});

describe.skipIf(pgSkipReason !== undefined)("signing key repository on two PostgreSQL replicas", () => {
  let pg: Awaited<ReturnType<typeof openTestPg>> | undefined;
  let other: PgDb | undefined;
  beforeAll(async () => {
    pg = await openTestPg();
    other = new PgDb(pg.url);
  });
  afterAll(async () => {
    await other?.close();
    await pg?.drop();
  });

  /** Two replicas' repositories on one empty signing_keys table. */
  async function replicas() {
    if (!pg || !other) throw new Error("not opened");
    const o: Opened = { kind: "postgres", db: pg.db };
    await pg.db.query("TRUNCATE signing_keys, changes, admin_audit");
    return { o, one: new PgSigningKeyRepository(pg.db), two: new PgSigningKeyRepository(other) };
  }

  const byState = async (r: Keys) => {
    const count = { next: 0, active: 0, retired: 0 };
    for (const k of await r.all()) count[k.state]++;
    return count;
  };

  it("two first starts at once create one active and one next key", async () => {
    const { o, one, two } = await replicas();
    const meet = meeting(2);
    const made = await Promise.all([
      inTransaction("postgres", one, () => ensure(one, [key("one-a", "active"), key("one-n", "next")], meet)),
      inTransaction("postgres", two, () => ensure(two, [key("two-a", "active"), key("two-n", "next")], meet)),
    ]);
    expect(made.sort()).toEqual([false, true]);
    expect(await byState(two)).toEqual({ next: 1, active: 1, retired: 0 });
    expect(await changes(o)).toHaveLength(1);
  });

  it("two rotations at once run one after the other: one active key, one next, both old ones retired", async () => {
    const { o, one, two } = await replicas();
    await one.insert(key("k1", "active", T0));
    await one.insert(key("k2", "next", T0 + 1));
    const meet = meeting(2);
    const now = T0 + 100;
    const done = await Promise.all([
      inTransaction("postgres", one, () => rotate(one, key("one", "next", now), now, { pause: meet })),
      inTransaction("postgres", two, () => rotate(two, key("two", "next", now), now, { pause: meet })),
    ]);
    expect(done).toEqual([true, true]);
    expect(await byState(one)).toEqual({ next: 1, active: 1, retired: 2 });
    const active = (await two.inState("active"))[0]?.kid;
    // The second rotation promoted the key the first one published.
    expect(["one", "two"]).toContain(active);
    expect((await one.inState("next"))[0]?.kid).not.toBe(active);
    expect(await changes(o)).toHaveLength(2);
    expect(await audits(o)).toHaveLength(2);
  });

  it("two due rotations at once rotate once", async () => {
    const { o, one, two } = await replicas();
    await one.insert(key("k1", "active", T0));
    await one.insert(key("k2", "next", T0 + 1));
    const meet = meeting(2);
    const now = T0 + 100;
    const due = { every: 60, pause: meet };
    const done = await Promise.all([
      inTransaction("postgres", one, () => rotate(one, key("one", "next", now), now, due)),
      inTransaction("postgres", two, () => rotate(two, key("two", "next", now), now, due)),
    ]);
    expect(done.sort()).toEqual([false, true]);
    expect(await byState(one)).toEqual({ next: 1, active: 1, retired: 1 });
    expect((await one.inState("active"))[0]?.kid).toBe("k2");
    expect(await changes(o)).toHaveLength(1);
  });
});
