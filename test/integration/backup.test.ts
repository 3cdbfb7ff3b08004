import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOrg } from "../../src/core/bootstrap.js";
import { BackupError, type BackupResult, backupStore } from "../../src/store/backup.js";
import { databasePath } from "../../src/store/db.js";
import { MIGRATIONS } from "../../src/store/migrations/index.js";
import { restoreStore } from "../../src/store/restore.js";
import { openStore, type Store } from "../../src/store/store.js";
import { tempDir } from "../helpers/server.js";

/**
 * The store's backup under writes from another connection, made between every step of the copy
 * (deterministically, from the progress callback): the copy never restarts, never blocks the
 * writer, and holds the store as of the instant it began.
 */
describe("backupStore with a writer committing between its steps", () => {
  const tmp = tempDir("tessera-backup-int-");
  const source = join(tmp.dir, "source");
  const file = join(tmp.dir, "store.backup");
  let store: Store;
  let result: BackupResult;
  const remaining: number[] = [];
  const seeded = new Set<string>();
  let written = 0;

  beforeAll(async () => {
    store = openStore(source);
    for (let i = 0; i < 300; i++) seeded.add((await createOrg(store, `seed-${i}`, new Date())).orgId);
    result = await backupStore(source, file, {
      pagesPerStep: 1,
      onProgress: (p) => {
        // A copy that starts over on each write would never end: stop it at the first restart.
        if (p.remainingPages >= (remaining.at(-1) ?? Number.POSITIVE_INFINITY))
          throw new Error("the backup restarted");
        remaining.push(p.remainingPages);
        void createOrg(store, `during-${written++}`, new Date());
      },
    });
  });

  afterAll(() => {
    void store?.close();
    tmp.cleanup();
  });

  it("copies every page once: the pages left only ever go down", () => {
    expect(result.pages).toBeGreaterThan(20);
    expect(written).toBeGreaterThan(20);
    for (let i = 1; i < remaining.length; i++) expect(remaining[i]).toBeLessThan(remaining[i - 1] ?? 0);
    expect(result.steps).toBe(remaining.length + 1);
  });

  it("holds the store as of the start: every org before it, none written during it", async () => {
    const target = join(tmp.dir, "restored");
    await restoreStore(file, target);
    const restored = openStore(target);
    try {
      const ids = restored.db
        .prepare<[], { id: string }>("SELECT id FROM orgs")
        .all()
        .map((r) => r.id);
      expect(new Set(ids)).toEqual(seeded);
    } finally {
      restored.close();
    }
  });

  it("writes nothing when the caller's check refuses, and refuses a non-empty target", async () => {
    const target = join(tmp.dir, "refused");
    const before = readdirSync(tmp.dir).sort();
    await expect(
      restoreStore(file, target, () => {
        throw new Error("no");
      }),
    ).rejects.toThrow("no");
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(tmp.dir).sort()).toEqual(before);
    const err = await restoreStore(file, source).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).problem).toBe("RESTORE_TARGET_NOT_EMPTY");
  });
});

describe("restoreStore of a backup from an older schema version", () => {
  const tmp = tempDir("tessera-restore-old-");
  afterAll(() => tmp.cleanup());

  it("accepts it and migrates the restored store to this build's version", async () => {
    const old = join(tmp.dir, "old");
    mkdirSync(old);
    const db = new Database(databasePath(old));
    for (const m of MIGRATIONS.slice(0, -1)) {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }
    db.close();
    const latest = MIGRATIONS.at(-1)?.version ?? 0;
    const result = await restoreStore(databasePath(old), join(tmp.dir, "restored"));
    expect({ schemaVersion: result.schemaVersion, storeVersion: result.storeVersion }).toEqual({
      schemaVersion: latest - 1,
      storeVersion: latest,
    });
  });
});
