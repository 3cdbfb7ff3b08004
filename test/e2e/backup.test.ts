import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { databasePath } from "../../src/store/db.js";
import { DecisionRepository } from "../../src/store/decisions.js";
import { MIGRATIONS } from "../../src/store/migrations/index.js";
import { type CliRun, cliEnv, runTessera, type ServeProcess, spawnServe } from "../helpers/cli.js";
import { expectOk } from "../helpers/e2e.js";
import { grpcClients } from "../helpers/grpc-fixture.js";
import { tempDir } from "../helpers/server.js";

/**
 * Issue #13, backups: `tessera backup` copies the store of a running server under a write load,
 * `tessera restore` puts it into a new data directory, and a server started there has every
 * write acknowledged before the backup started, as one consistent snapshot.
 */

const policy = (name: string) => `apiVersion: tessera.dev/v1
kind: Policy
metadata:
  name: ${name}
spec:
  rules:
    - name: read
      scopes: ["${name}:read"]
      effect: allow
      roles: [viewer]
`;

/** The error a `--json` run printed, or undefined when it printed none. */
function reasonOf(run: CliRun): string | undefined {
  const line = run.stderr.trim().split("\n").at(-1) ?? "";
  if (!line.startsWith("{")) return undefined;
  return (JSON.parse(line) as { error?: { reason?: string } }).error?.reason;
}

function serve(dataDir: string, env: NodeJS.ProcessEnv): ServeProcess {
  return spawnServe(["--data-dir", dataDir, "--grpc-port", "0", "--http-port", "0", "--workers", "1"], env);
}

/** Decisions stored in a data directory's database (read-only: a server may be running on it). */
function storedDecisions(dataDir: string): number {
  const db = new Database(databasePath(dataDir), { readonly: true, fileMustExist: true });
  try {
    return new DecisionRepository(db).count();
  } finally {
    db.close();
  }
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("tessera backup under write load, then tessera restore", () => {
  const home = tempDir("tessera-backup-");
  const source = join(home.dir, "source");
  const restored = join(home.dir, "restored");
  const file = join(home.dir, "tessera.backup");
  const env = cliEnv(home.dir, { TESSERA_MASTER_KEY: randomBytes(32).toString("base64") });
  /** Every write issued, in order (one at a time), and how many were acknowledged when. */
  const issued: string[] = [];
  let ackedBeforeBackup = 0;
  let issuedWhenBackupEnded = 0;
  let ackedDuringBackup = 0;
  let decisionsBeforeBackup = 0;
  let backup: CliRun;
  let restore: CliRun;
  let admin: Record<string, string> = {};
  let token = "";
  let after: ServeProcess | undefined;
  let afterClients: ReturnType<typeof grpcClients> | undefined;

  beforeAll(async () => {
    const first = serve(source, env);
    const ready = await first.ready;
    const c = grpcClients(`127.0.0.1:${ready.grpcPort}`);
    admin = {
      "x-api-key": ready.exports.TESSERA_API_KEY ?? "",
      "x-admin-token": ready.exports.TESSERA_ADMIN_TOKEN ?? "",
    };
    try {
      const agent = expectOk(
        await c.admin.call("createAgent", { name: "reader", tier: Tier.VERIFIED, roles: ["viewer"] }, admin),
      ).agent;
      token = expectOk(
        await c.auth.call("mintToken", { agentId: agent?.id ?? "", scopes: ["reports:read"] }, admin),
      ).token;
      for (let i = 0; i < 5; i++) {
        const query = { subject: { case: "token" as const, value: token }, scope: "reports:read" };
        expectOk(await c.auth.call("authorize", { ...query, resource: { kind: "report", id: `r${i}` } }));
      }
      // Decisions reach the database in batches, off the hot path: wait for them to be there.
      await until("the decisions to be stored", () => storedDecisions(source) >= 5);
      decisionsBeforeBackup = storedDecisions(source);

      let acked = 0;
      let stop = false;
      const load = (async () => {
        for (let i = 0; !stop; i++) {
          const name = `load-${i}`;
          issued.push(name);
          if (i % 2 === 0)
            expectOk(
              await c.admin.call("createAgent", { name, tier: Tier.UNVERIFIED, roles: ["viewer"] }, admin),
            );
          else expectOk(await c.admin.call("putPolicy", { document: policy(name) }, admin));
          acked++;
        }
      })();
      await until("some acknowledged writes", () => acked >= 20);
      ackedBeforeBackup = acked;
      // One page per step: the copy takes many steps, with the server committing between them.
      backup = await runTessera(
        ["backup", "--data-dir", source, "--to", file, "--pages-per-step", "1", "--json"],
        env,
      );
      issuedWhenBackupEnded = issued.length;
      ackedDuringBackup = acked - ackedBeforeBackup;
      stop = true;
      await load;
    } finally {
      for (const client of Object.values(c)) client.close();
      await first.stop();
    }
    restore = await runTessera(["restore", "--from", file, "--data-dir", restored, "--json"], env);
    if (restore.code === 0) {
      after = serve(restored, env);
      afterClients = grpcClients(`127.0.0.1:${(await after.ready).grpcPort}`);
    }
  }, 120_000);

  afterAll(async () => {
    for (const client of Object.values(afterClients ?? {})) client.close();
    await after?.stop();
    home.cleanup();
  });

  it("backs up while the server keeps acknowledging writes", () => {
    expect(backup.code, backup.stderr).toBe(0);
    const out = JSON.parse(backup.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({
      file,
      schemaVersion: MIGRATIONS.at(-1)?.version,
      masterKeyIncluded: false,
      signingKeys: { clear: 0 },
    });
    expect(out.steps).toBeGreaterThan(1);
    expect((out.signingKeys as { sealed: number }).sealed).toBeGreaterThan(0);
    expect(ackedDuringBackup).toBeGreaterThan(0);
  });

  it("restores into a new data directory", () => {
    expect(restore.code, restore.stderr).toBe(0);
    expect(JSON.parse(restore.stdout)).toMatchObject({ dataDir: restored, masterKeyConfigured: true });
  });

  it("has every write acknowledged before the backup started, and is one snapshot: a prefix of the writes", async () => {
    const c = afterClients;
    if (!c) throw new Error("the restored server did not start");
    const agents = expectOk(await c.admin.call("listAgents", {}, admin)).agents.map((a) => a.name);
    const policies = expectOk(await c.admin.call("listPolicies", {}, admin)).policies.map((p) => p.name);
    const present = new Set([...agents, ...policies].filter((n) => n.startsWith("load-")));
    const k = present.size;
    expect(k).toBeGreaterThanOrEqual(ackedBeforeBackup);
    expect(k).toBeLessThanOrEqual(issuedWhenBackupEnded);
    // Writes were made one at a time, so a consistent copy holds exactly the first k of them.
    expect([...present].sort()).toEqual(issued.slice(0, k).sort());
  });

  it("keeps the org's credentials, its signing keys (opened with the master key) and its decision log", async () => {
    const c = afterClients;
    if (!c) throw new Error("the restored server did not start");
    // The admin headers above are the source's dev org's; the token was signed by the source server.
    const query = { subject: { case: "token" as const, value: token }, scope: "reports:read" };
    expectOk(await c.auth.call("authorize", { ...query, resource: { kind: "report", id: "after" } }));
    expect(storedDecisions(restored)).toBeGreaterThanOrEqual(decisionsBeforeBackup);
  });

  it("is consistent: SQLite's integrity and foreign-key checks pass on the restored store", () => {
    const db = new Database(databasePath(restored), { readonly: true, fileMustExist: true });
    try {
      expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
      expect(db.pragma("foreign_key_check")).toEqual([]);
    } finally {
      db.close();
    }
  });

  describe("refusals change nothing", () => {
    const env2 = { ...env };
    const target = () => join(home.dir, `target-${randomBytes(4).toString("hex")}`);
    /** Runs restore into a new target and checks it failed with `reason`, leaving no trace. */
    async function refused(from: string, reason: string, e: NodeJS.ProcessEnv = env2) {
      const before = readdirSync(home.dir).sort();
      const dir = target();
      const run = await runTessera(["restore", "--from", from, "--data-dir", dir, "--json"], e);
      expect({ code: run.code === 0 ? 0 : "non-zero", reason: reasonOf(run) }).toEqual({
        code: "non-zero",
        reason,
      });
      expect(existsSync(dir)).toBe(false);
      expect(readdirSync(home.dir).sort()).toEqual(before);
    }

    it("refuses a data directory that is not empty", async () => {
      const dir = target();
      const keep = join(dir, "keep.txt");
      await runTessera(["init", "--data-dir", dir, "--json"], env);
      writeFileSync(keep, "mine");
      const listing = readdirSync(dir).sort();
      const db = readFileSync(databasePath(dir));
      const run = await runTessera(["restore", "--from", file, "--data-dir", dir, "--json"], env);
      expect({ code: run.code, reason: reasonOf(run) }).toEqual({
        code: 1,
        reason: "RESTORE_TARGET_NOT_EMPTY",
      });
      expect(readdirSync(dir).sort()).toEqual(listing);
      expect(readFileSync(databasePath(dir)).equals(db)).toBe(true);
    });

    it("refuses a file that is not a Tessera backup (text, empty, another SQLite database)", async () => {
      const text = join(home.dir, "notes.txt");
      writeFileSync(text, "not a database\n");
      await refused(text, "NOT_A_BACKUP");
      const empty = join(home.dir, "empty.db");
      writeFileSync(empty, "");
      await refused(empty, "NOT_A_BACKUP");
      const other = join(home.dir, "other.db");
      const db = new Database(other);
      db.exec("CREATE TABLE things (id INTEGER PRIMARY KEY)");
      db.close();
      await refused(other, "NOT_A_BACKUP");
      await refused(join(home.dir, "missing.backup"), "BACKUP_NOT_FOUND");
    });

    it("refuses a corrupt backup (truncated, or pages overwritten)", async () => {
      const bytes = readFileSync(file);
      const truncated = join(home.dir, "truncated.backup");
      writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
      await refused(truncated, "BACKUP_CORRUPT");
      const scribbled = join(home.dir, "scribbled.backup");
      const copy = Buffer.from(bytes);
      // Every page but the first (the schema) has a stretch of its content overwritten.
      for (let page = 4096; page + 400 < copy.length; page += 4096) copy.fill(0xff, page + 100, page + 400);
      writeFileSync(scribbled, copy);
      await refused(scribbled, "BACKUP_CORRUPT");
    });

    it("refuses a backup from a newer schema version", async () => {
      const newer = join(home.dir, "newer.backup");
      copyFileSync(file, newer);
      const db = new Database(newer);
      db.pragma(`user_version = ${(MIGRATIONS.at(-1)?.version ?? 0) + 1}`);
      db.close();
      await refused(newer, "BACKUP_SCHEMA_NEWER");
    });

    it("refuses to restore without the master key the signing keys are sealed under, or with another", async () => {
      const { TESSERA_MASTER_KEY: _key, ...without } = env;
      await refused(file, "MASTER_KEY_MISSING", without);
      await refused(file, "KEY_UNDECRYPTABLE", {
        ...env,
        TESSERA_MASTER_KEY: randomBytes(32).toString("base64"),
      });
    });

    it("backup refuses to replace an existing file, and a data directory with no store", async () => {
      const before = readFileSync(file);
      const run = await runTessera(["backup", "--data-dir", restored, "--to", file, "--json"], env);
      expect({ code: run.code, reason: reasonOf(run) }).toEqual({ code: 1, reason: "BACKUP_TARGET_EXISTS" });
      expect(readFileSync(file).equals(before)).toBe(true);
      const none = await runTessera(
        ["backup", "--data-dir", join(home.dir, "no-store"), "--to", join(home.dir, "x.backup"), "--json"],
        env,
      );
      expect({ code: none.code, reason: reasonOf(none) }).toEqual({
        code: 1,
        reason: "BACKUP_SOURCE_MISSING",
      });
      expect(existsSync(join(home.dir, "x.backup"))).toBe(false);
      expect(existsSync(join(home.dir, "no-store"))).toBe(false);
    });
  });
});

describe("tessera backup and restore --help", () => {
  const home = tempDir("tessera-backup-help-");
  afterAll(() => home.cleanup());

  it.each([
    ["backup", ["--to", "--data-dir", "--config", "--force", "NOT in the backup"]],
    ["restore", ["--from", "--data-dir", "--config", "TESSERA_MASTER_KEY"]],
  ])("%s explains itself", async (command, words) => {
    const run = await runTessera([command, "--help"], cliEnv(home.dir));
    expect(run.code).toBe(0);
    for (const w of words) expect(run.stdout).toContain(w);
  });
});
