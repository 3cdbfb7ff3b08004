import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Async } from "../../../src/store/contract/async.js";
import { PgDb } from "../../../src/store/postgres/pg-db.js";
import { PgRefreshTokenRepository } from "../../../src/store/postgres/refresh-tokens.js";
import { RefreshTokenRepository, type RefreshTokenRow } from "../../../src/store/refresh-tokens.js";
import { openTestPg, pgSkipReason } from "../../helpers/pg.js";
import { describeBackends, type Opened, seedOrg, selectRows } from "./backends.js";

function tokens(o: Opened): Async<RefreshTokenRepository> {
  return o.kind === "sqlite" ? new RefreshTokenRepository(o.db) : new PgRefreshTokenRepository(o.db);
}

const token = (id: string, familyId: string, extra: Partial<RefreshTokenRow> = {}): RefreshTokenRow => ({
  id,
  familyId,
  orgId: "org-a",
  subjectKind: "user",
  subjectId: "usr_1",
  issuedAt: 100,
  expiresAt: 200,
  startedAt: 90,
  credential: "password",
  ...extra,
});

const digest = (n: number) => Buffer.from([n, 0xfe, 0x00, n]);
const changes = (o: Opened) => selectRows(o, "SELECT kind, org_id, ref FROM changes ORDER BY seq");
const audits = (o: Opened) => selectRows(o, "SELECT action FROM admin_audit ORDER BY seq");

describeBackends("refresh tokens", (opened) => {
  it("stores a token and finds it by its digest only", async () => {
    const o = opened();
    await seedOrg(o, "org-a");
    const repo = tokens(o);
    const row = token("rt_1", "ses_1", { subjectKind: "agent", subjectId: "agt_1", credential: "key:abc" });
    await repo.insert(row, digest(1));
    expect(await repo.byDigest(digest(1))).toEqual({ ...row, usedAt: undefined, revokedAt: undefined });
    expect(await repo.byDigest(digest(2))).toBeUndefined();
    await repo.insert(token("rt_2", "ses_2", { credential: undefined }), digest(2));
    expect((await repo.byDigest(digest(2)))?.credential).toBeUndefined();
    // A digest is unique.
    await expect(
      Promise.resolve().then(() => repo.insert(token("rt_3", "ses_3"), digest(1))),
    ).rejects.toThrow();
    expect(await changes(o)).toEqual([]);
    expect(await audits(o)).toEqual([]);
  });

  it("discards a token that was never handed out, and nothing else", async () => {
    const o = opened();
    await seedOrg(o, "org-a");
    const repo = tokens(o);
    await repo.insert(token("rt_1", "ses_1"), digest(1));
    await repo.insert(token("rt_2", "ses_1"), digest(2));
    await repo.discard("rt_1");
    await repo.discard("rt_none");
    expect(await repo.byDigest(digest(1))).toBeUndefined();
    expect((await repo.byDigest(digest(2)))?.id).toBe("rt_2");
    expect(await changes(o)).toEqual([]);
  });

  it("claims a token once, and never a revoked one", async () => {
    const o = opened();
    await seedOrg(o, "org-a");
    const repo = tokens(o);
    await repo.insert(token("rt_1", "ses_1"), digest(1));
    await repo.insert(token("rt_2", "ses_2"), digest(2));
    expect(await repo.claim("rt_1", 150)).toBe(true);
    expect(await repo.claim("rt_1", 151)).toBe(false);
    expect((await repo.byDigest(digest(1)))?.usedAt).toBe(150);
    await repo.revokeFamily("ses_2", 150);
    expect(await repo.claim("rt_2", 151)).toBe(false);
    expect((await repo.byDigest(digest(2)))?.usedAt).toBeUndefined();
    expect(await repo.claim("rt_none", 151)).toBe(false);
    expect(await changes(o)).toEqual([]);
  });

  it("revokes a whole family once, returning its latest expiry (or now for none)", async () => {
    const o = opened();
    await seedOrg(o, "org-a");
    const repo = tokens(o);
    await repo.insert(token("rt_1", "ses_1", { expiresAt: 300 }), digest(1));
    await repo.insert(token("rt_2", "ses_1", { expiresAt: 500 }), digest(2));
    await repo.insert(token("rt_3", "ses_2"), digest(3));
    expect(await repo.revokeFamily("ses_1", 150)).toBe(500);
    expect((await repo.byDigest(digest(1)))?.revokedAt).toBe(150);
    expect((await repo.byDigest(digest(2)))?.revokedAt).toBe(150);
    expect((await repo.byDigest(digest(3)))?.revokedAt).toBeUndefined();
    // Already revoked: the first revocation's time stays.
    expect(await repo.revokeFamily("ses_1", 160)).toBe(500);
    expect((await repo.byDigest(digest(1)))?.revokedAt).toBe(150);
    expect(await repo.revokeFamily("ses_none", 170)).toBe(170);
    expect(await changes(o)).toEqual([]);
    expect(await audits(o)).toEqual([]);
  });

  it("lists a subject's live families, by credential with those that recorded none", async () => {
    const o = opened();
    await seedOrg(o, "org-a");
    const repo = tokens(o);
    await repo.insert(token("rt_1", "ses_pw", { credential: "password" }), digest(1));
    await repo.insert(token("rt_2", "ses_pw", { credential: "password" }), digest(2));
    await repo.insert(token("rt_3", "ses_key", { credential: "key:k1" }), digest(3));
    await repo.insert(token("rt_4", "ses_old", { credential: undefined }), digest(4));
    await repo.insert(token("rt_5", "ses_dead", { credential: "password" }), digest(5));
    await repo.insert(token("rt_6", "ses_other", { subjectId: "usr_2" }), digest(6));
    await repo.revokeFamily("ses_dead", 150);
    const sorted = async (p: Promise<string[]> | string[]) => [...(await p)].sort();
    expect(await sorted(repo.familiesOf("usr_1"))).toEqual(["ses_key", "ses_old", "ses_pw"]);
    expect(await sorted(repo.familiesOf("usr_1", "key:k1"))).toEqual(["ses_key", "ses_old"]);
    expect(await sorted(repo.familiesOf("usr_1", "key:k2"))).toEqual(["ses_old"]);
    expect(await sorted(repo.familiesOf("usr_none"))).toEqual([]);
  });
});

describe.skipIf(pgSkipReason !== undefined)("refresh tokens on two PostgreSQL replicas", () => {
  let pg: Awaited<ReturnType<typeof openTestPg>> | undefined;
  let a: PgDb;
  let b: PgDb;
  beforeAll(async () => {
    pg = await openTestPg();
    a = new PgDb(pg.url);
    b = new PgDb(pg.url);
    await a.query("INSERT INTO orgs (id, name, policy_revision, created_at) VALUES ('org-a', 'org-a', 0, 1)");
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await pg?.drop();
  });

  it("the same refresh token rotated on both at once: one rotates, the other is refused and revokes the family", async () => {
    const [ra, rb] = [new PgRefreshTokenRepository(a), new PgRefreshTokenRepository(b)];
    for (let round = 0; round < 25; round++) {
      const family = `ses_race_${round}`;
      await ra.insert(token(`rt_${round}`, family), digest(round));
      // What Sessions.refresh does on each replica: claim, then rotate or (reuse) revoke.
      const refresh = async (repo: PgRefreshTokenRepository, n: number) => {
        const row = await repo.byDigest(digest(round));
        if (!row) throw new Error("token not found");
        if (!(await repo.claim(row.id, 150))) {
          await repo.revokeFamily(row.familyId, 150);
          return "reused";
        }
        await repo.insert(token(`rt_${round}_next_${n}`, family), digest(100 + round * 2 + n));
        return "rotated";
      };
      const outcomes = await Promise.all([refresh(ra, 0), refresh(rb, 1)]);
      expect(outcomes.sort()).toEqual(["reused", "rotated"]);
      const used = await a.query<{ used_at: number | null; revoked_at: number | null }>(
        "SELECT used_at, revoked_at FROM refresh_tokens WHERE id = $1",
        [`rt_${round}`],
      );
      expect(used).toEqual([{ used_at: 150, revoked_at: 150 }]);
      // Presented again (a third holder): refused on either replica.
      expect(await rb.claim(`rt_${round}`, 160)).toBe(false);
      expect(await ra.claim(`rt_${round}`, 160)).toBe(false);
      // The winner's new token may be stored before or after the loser's revocation: Sessions
      // also revokes the family id itself (liveness), which refuses that token either way.
    }
  });

  it("a burst of claims of one token from both replicas: exactly one wins", async () => {
    const [ra, rb] = [new PgRefreshTokenRepository(a), new PgRefreshTokenRepository(b)];
    await ra.insert(token("rt_burst", "ses_burst"), digest(250));
    const claims = await Promise.all(
      Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? ra : rb).claim("rt_burst", 150 + i)),
    );
    expect(claims.filter(Boolean)).toHaveLength(1);
  });
});
