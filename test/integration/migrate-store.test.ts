import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId, secretDigest } from "../../src/auth/secrets.js";
import { createOrg } from "../../src/core/bootstrap.js";
import type { Tier } from "../../src/domain/tiers.js";
import { AgentCredentialRepository } from "../../src/store/agent-credentials.js";
import { CredentialUsageRepository } from "../../src/store/credential-usage.js";
import { databasePath } from "../../src/store/db.js";
import { KnownSourceRepository, LoginThrottleRepository } from "../../src/store/login-throttle.js";
import {
  MIGRATED_TABLES,
  MigrateStoreError,
  type MigrateStoreReport,
  migrateStore,
  PG_ONLY_TABLES,
  SQLITE_ONLY_TABLES,
} from "../../src/store/migrate-store.js";
import { MIGRATIONS } from "../../src/store/migrations/index.js";
import { migratePg, pgSchemaVersion } from "../../src/store/postgres/migrate.js";
import { PgDb } from "../../src/store/postgres/pg-db.js";
import { RefreshTokenRepository } from "../../src/store/refresh-tokens.js";
import { openStore, type Store } from "../../src/store/store.js";
import { LoginFailureRepository, UserRepository } from "../../src/store/users.js";
import { cliEnv, runTessera } from "../helpers/cli.js";
import { createTestDatabase, pgSkipReason } from "../helpers/pg.js";
import { tempDir } from "../helpers/server.js";

const policy = (name: string, scope: string) => `apiVersion: tessera.dev/v1
kind: Policy
metadata:
  name: ${name}
spec:
  rules:
    - name: r
      scopes: ["${scope}"]
      effect: allow
      roles: [viewer]
`;

/** Fills a store through its repositories with at least one row in every table. */
async function seed(store: Store): Promise<void> {
  const now = 1_800_000_000;
  const a = (await createOrg(store, "alpha", new Date(now * 1000))).orgId;
  const b = (await createOrg(store, "beta", new Date(now * 1000))).orgId;
  store.orgs.addScopedKey(
    {
      id: newId("key"),
      orgId: a,
      kind: "api_key",
      digest: secretDigest("scoped"),
      scopes: ["x:read"],
      name: "ci",
    },
    now,
  );
  const agent = (orgId: string, name: string, extra: { parentId?: string } = {}) => {
    const id = newId("agt");
    store.agents.insert({
      id,
      orgId,
      name,
      tier: "verified" as Tier,
      roles: ["viewer"],
      tags: ["t"],
      createdAt: now,
      ...extra,
    });
    return id;
  };
  // A child inserted before its parent (the parent given later): the copy must insert the parent first.
  const child = agent(a, "child");
  const parent = agent(a, "parent");
  store.agents.update(a, child, { parentId: parent });
  agent(a, "grandchild", { parentId: child });
  store.agents.setSuspended(a, parent, true, now + 1);
  store.agents.delete(a, agent(a, "gone"), now + 2);
  const creds = new AgentCredentialRepository(store.db);
  creds.replaceSecret(a, parent, secretDigest("agent-secret"), { now, revokeUntil: now + 3600 });
  creds.insertKey(
    { id: "thumb-1", orgId: a, agentId: parent, alg: "EdDSA", publicJwk: '{"kty":"OKP"}' },
    now,
  );
  creds.recordAssertion("jti-1", parent, now + 60);
  for (let r = 1; r <= 3; r++)
    store.policies.commit(
      a,
      { put: [{ name: "p", document: policy("p", `s:${r}`), ruleCount: 1 }] },
      { now: now + r, actor: "server" },
      () => {},
    );
  store.policies.commit(
    a,
    { put: [{ name: "q", document: policy("q", "q:1"), ruleCount: 1 }], remove: ["p"] },
    { now: now + 9 },
    () => {},
  );
  store.signingKeys.insert({
    kid: "k1",
    alg: "EdDSA",
    publicJwk: '{"kid":"k1"}',
    privateJwk: "sealed:v1:abc",
    state: "active",
    createdAt: now,
  });
  const users = new UserRepository(store.db);
  const userId = newId("usr");
  users.insert({
    id: userId,
    orgId: a,
    username: "ada",
    passwordHash: "scrypt$x",
    role: "admin",
    createdAt: now,
  });
  new LoginFailureRepository(store.db).charge(a, "ada", now, { maxFailures: 5, lockSeconds: 60 });
  new LoginThrottleRepository(store.db).charge("source", "10.0.0.1", now, {
    maxFailures: 5,
    windowSeconds: 60,
    lockSeconds: 60,
  });
  new KnownSourceRepository(store.db).remember(userId, "10.0.0.2", now);
  new RefreshTokenRepository(store.db).insert(
    {
      id: newId("rt"),
      familyId: "fam",
      orgId: a,
      subjectKind: "user",
      subjectId: userId,
      issuedAt: now,
      expiresAt: now + 3600,
      startedAt: now,
      credential: "password",
    },
    randomBytes(32),
  );
  store.revocations.revoke("jti", "revoked-jti", now + 600);
  store.services.insertNamespace({
    source: "spiffe",
    pattern: "spiffe://a.example/",
    match: "prefix",
    orgId: a,
    createdAt: now,
  });
  store.services.insertBinding({
    source: "spiffe",
    identity: "spiffe://a.example/svc",
    orgId: a,
    createdAt: now,
  });
  store.operators.insertToken({
    id: newId("opt"),
    name: "ops",
    digest: secretDigest("op"),
    prefix: "tso_ab",
    createdAt: now,
  });
  for (let i = 0; i < 3; i++) store.operators.spend("org.create", "operator:ops", now + i, 60, 10);
  store.orgTrust.insert({ orgId: a, trustedOrgId: b, createdAt: now, actor: "admin:k" });
  new CredentialUsageRepository(store.db).add([
    { orgId: a, credential: "agent:x", count: 3, lastUsedAt: now },
  ]);
  const record = (i: number, orgId: string) => ({
    id: `dec-${orgId}-${i}`,
    orgId,
    atMs: now * 1000 + i,
    subjectId: "agt_x",
    scope: "s:read",
    resourceKind: "tool",
    resourceId: `r\u00e9-${i} "quoted"`,
    allowed: i % 2 === 0,
    reason: "ALLOWED_BY_RULE",
    rule: "p/r",
    revision: 3,
    caller: i === 0 ? "api_key:k" : undefined,
  });
  for (let batch = 0; batch < 3; batch++)
    store.decisions.write({
      id: `batch-${batch}`,
      records: [0, 1, 2].map((i) => record(batch * 3 + i, batch === 2 ? b : a)),
      overflow:
        batch === 0
          ? [
              {
                orgId: a,
                windowStartMs: 1,
                windowEndMs: 2,
                dropped: 4,
                allowed: 3,
                denied: 1,
                droppedBytes: 400,
              },
            ]
          : [],
    });
}

/** A row with BLOBs/BYTEAs as hex and decision records parsed, so both sides compare equal. */
function normal(table: string, row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (Buffer.isBuffer(v)) out[k] = `bytes:${v.toString("hex")}`;
    else if (table === "decision_segments" && k === "records" && typeof v === "string")
      out[k] = JSON.parse(v);
    else out[k] = v;
  }
  return out;
}

/** A table's rows as a sorted list of canonical strings. */
function rowSet(table: string, rows: Record<string, unknown>[]): string[] {
  return rows
    .map((r) => normal(table, r))
    .map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).sort(([x], [y]) => x.localeCompare(y)))))
    .sort();
}

const hash = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

describe.skipIf(pgSkipReason)("migrate-store: a SQLite store into PostgreSQL", () => {
  const tmp = tempDir("tessera-migrate-");
  const dataDir = join(tmp.dir, "data");
  const drops: (() => Promise<void>)[] = [];
  let target: { url: string; drop: () => Promise<void> };
  let pgdb: PgDb;
  let report: MigrateStoreReport;
  let sourceHash: string;

  beforeAll(async () => {
    const store = openStore(dataDir);
    await seed(store);
    void store.close();
    sourceHash = hash(databasePath(dataDir));
    target = await createTestDatabase();
    drops.push(target.drop);
    // One row per INSERT: the child agent's parent must already be there; many batches per table.
    report = await migrateStore(dataDir, target.url, { batchRows: 1 });
    pgdb = new PgDb(target.url);
  }, 60_000);

  afterAll(async () => {
    await pgdb?.close();
    for (const drop of drops) await drop();
    tmp.cleanup();
  });

  const sqliteRows = (table: string) => {
    const db = new Database(databasePath(dataDir), { readonly: true, fileMustExist: true });
    try {
      return db.prepare(`SELECT * FROM "${table}"`).all() as Record<string, unknown>[];
    } finally {
      db.close();
    }
  };

  it("lists every SQLite table and every PostgreSQL table (a new table must be added to the copy)", async () => {
    const db = new Database(databasePath(dataDir), { readonly: true });
    const sqliteTables = db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
      .all()
      .map((r) => r.name)
      .filter((t) => !SQLITE_ONLY_TABLES.includes(t));
    db.close();
    const pgTables = (
      await pgdb.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
      )
    )
      .map((r) => r.table_name)
      .filter((t) => !PG_ONLY_TABLES.includes(t));
    const listed = MIGRATED_TABLES.map((t) => t.name).sort();
    expect(sqliteTables.sort()).toEqual(listed);
    expect(pgTables.sort()).toEqual(listed);
  });

  it("copies every table's rows exactly (the seed fills every one)", async () => {
    for (const { name } of MIGRATED_TABLES) {
      const from = sqliteRows(name);
      expect(from.length, name).toBeGreaterThan(0);
      const to = await pgdb.query<Record<string, unknown>>(`SELECT * FROM "${name}"`);
      expect(rowSet(name, to), name).toEqual(rowSet(name, from));
    }
  });

  it("reports both sides' counts, equal, and the total", () => {
    expect(report.tables.map((t) => t.table)).toEqual(MIGRATED_TABLES.map((t) => t.name));
    for (const t of report.tables) {
      expect(t.postgres, t.table).toBe(sqliteRows(t.table).length);
      expect(t.sqlite, t.table).toBe(t.postgres);
    }
    expect(report.rows).toBe(report.tables.reduce((n, t) => n + t.sqlite, 0));
    expect(report.sqliteSchemaVersion).toBe(MIGRATIONS.at(-1)?.version);
    expect(report.from).toBe(databasePath(dataDir));
  });

  it("sets each identity sequence and change_seq past the copied rows", async () => {
    const maxOf = (t: string) => Math.max(...sqliteRows(t).map((r) => Number(r.seq)));
    expect(report.sequences.map((s) => s.table).sort()).toEqual([
      "admin_audit",
      "decision_overflow",
      "decision_segments",
      "operator_actions",
    ]);
    for (const s of report.sequences) expect(s.next, s.table).toBe(maxOf(s.table) + 1);
    expect(report.changeSeq).toBe(maxOf("changes"));
    expect((await pgdb.one<{ seq: number }>("SELECT seq FROM change_seq"))?.seq).toBe(maxOf("changes"));
    const added = await pgdb.one<{ seq: number }>(
      "INSERT INTO operator_actions (action, actor, at) VALUES ('x', 'y', 1) RETURNING seq",
    );
    expect(added?.seq).toBe(maxOf("operator_actions") + 1);
    await pgdb.query("DELETE FROM operator_actions WHERE seq = $1", [added?.seq]);
  });

  it("leaves the SQLite store unchanged", () => {
    expect(hash(databasePath(dataDir))).toBe(sourceHash);
  });

  it("refuses a target that holds Tessera data, changing nothing there", async () => {
    const snapshot = async () => {
      const out: Record<string, string[]> = {};
      for (const { name } of MIGRATED_TABLES)
        out[name] = rowSet(name, await pgdb.query<Record<string, unknown>>(`SELECT * FROM "${name}"`));
      out.change_seq = rowSet("change_seq", await pgdb.query("SELECT * FROM change_seq"));
      return out;
    };
    const before = await snapshot();
    const err = await migrateStore(dataDir, target.url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrateStoreError);
    expect((err as MigrateStoreError).problem).toBe("TARGET_NOT_EMPTY");
    expect(await snapshot()).toEqual(before);
  });

  it("commits nothing when a table's count differs after the copy", async () => {
    const fresh = await createTestDatabase();
    drops.push(fresh.drop);
    const db = new PgDb(fresh.url);
    try {
      await migratePg(db);
      // A target that silently drops one table's rows: the copy succeeds, the count does not.
      await db.query(
        `CREATE FUNCTION drop_row() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'`,
      );
      await db.query(
        "CREATE TRIGGER drop_rows BEFORE INSERT ON revocations FOR EACH ROW EXECUTE FUNCTION drop_row()",
      );
      const err = await migrateStore(dataDir, fresh.url).catch((e: unknown) => e);
      expect((err as MigrateStoreError).problem).toBe("COUNT_MISMATCH");
      for (const { name } of MIGRATED_TABLES)
        expect((await db.one<{ n: number }>(`SELECT count(*) AS n FROM "${name}"`))?.n, name).toBe(0);
      expect((await db.one<{ seq: number }>("SELECT seq FROM change_seq"))?.seq).toBe(0);
    } finally {
      await db.close();
    }
  }, 60_000);

  it("refuses a store at an older schema version before touching the target", async () => {
    const old = join(tmp.dir, "old");
    mkdirSync(old);
    const db = new Database(databasePath(old));
    for (const m of MIGRATIONS.slice(0, -1)) {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }
    db.close();
    const fresh = await createTestDatabase();
    drops.push(fresh.drop);
    const err = await migrateStore(old, fresh.url).catch((e: unknown) => e);
    expect((err as MigrateStoreError).problem).toBe("SOURCE_SCHEMA_OLD");
    const probe = new PgDb(fresh.url);
    try {
      expect(await pgSchemaVersion(probe)).toBe(0);
    } finally {
      await probe.close();
    }
  }, 60_000);

  it("runs from the CLI: --json report, exit 0; then exit 1 on the non-empty target; no password printed", async () => {
    const fresh = await createTestDatabase();
    drops.push(fresh.drop);
    // The test server trusts local logins: any password is accepted, so one can be put in the URL.
    const u = new URL(fresh.url);
    u.username = "postgres";
    u.password = "s3cret-Pw";
    const env = cliEnv(tmp.dir, { TESSERA_DATABASE_URL: u.toString() });
    const ok = await runTessera(["migrate-store", "--from", `sqlite:${dataDir}`, "--json"], env);
    expect(ok.code, ok.stderr).toBe(0);
    const json = JSON.parse(ok.stdout) as MigrateStoreReport;
    expect(json.tables).toEqual(report.tables);
    expect(json.to).not.toContain("s3cret");
    const again = await runTessera(["migrate-store", "--from", dataDir, "--to", u.toString()], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("[TARGET_NOT_EMPTY]");
    const asJson = await runTessera(
      ["migrate-store", "--from", dataDir, "--to", u.toString(), "--json"],
      env,
    );
    expect(asJson.code).toBe(1);
    expect(JSON.parse(asJson.stderr.trim()).error.reason).toBe("TARGET_NOT_EMPTY");
    for (const run of [ok, again, asJson]) expect(run.stdout + run.stderr).not.toContain("s3cret");
    const check = new pg.Client({ connectionString: fresh.url });
    await check.connect();
    try {
      const n = await check.query<{ n: string }>("SELECT count(*) AS n FROM agents");
      expect(Number(n.rows[0]?.n)).toBe(sqliteRows("agents").length);
    } finally {
      await check.end();
    }
  }, 60_000);

  it("prints the table of counts for people", async () => {
    const fresh = await createTestDatabase();
    drops.push(fresh.drop);
    const run = await runTessera(["migrate-store", "--from", dataDir, "--to", fresh.url], cliEnv(tmp.dir));
    expect(run.code, run.stderr).toBe(0);
    const line = run.stdout.split("\n").find((l) => l.startsWith("decision_segments "));
    expect(line?.trim().split(/\s+/)).toEqual(["decision_segments", "3", "3"]);
  }, 60_000);
});
