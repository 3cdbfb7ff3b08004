import { describe, expect, it } from "vitest";
import { MIGRATIONS } from "../../src/store/migrations/index.js";
import { openStore } from "../../src/store/store.js";
import { tempDir } from "../helpers/server.js";

describe("migrations", () => {
  // migrate() skips every migration at or below the database's version, in array order: one out
  // of order would be skipped for good on a fresh database.
  it("are listed in strictly increasing version order", () => {
    const versions = MIGRATIONS.map((m) => m.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
  });

  it("all apply to a fresh database, which then records the last version", () => {
    const tmp = tempDir();
    const store = openStore(tmp.dir);
    try {
      expect(store.db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.at(-1)?.version);
    } finally {
      void store.close();
      tmp.cleanup();
    }
  });
});
