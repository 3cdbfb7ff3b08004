import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { databasePath } from "../../src/store/db.js";
import { MIGRATIONS } from "../../src/store/migrations/index.js";
import { RefreshTokenRepository } from "../../src/store/refresh-tokens.js";
import { openStore, type Store } from "../../src/store/store.js";
import { tempDir } from "../helpers/server.js";

let tmp: ReturnType<typeof tempDir>;
let store: Store | undefined;
beforeEach(() => {
  tmp = tempDir("tessera-migration-11-");
});
afterEach(() => {
  void store?.close();
  store = undefined;
  tmp.cleanup();
});

/** A database as it was before migration 11, with an agent key and a session of two tokens. */
function before11(): void {
  const db = new Database(databasePath(tmp.dir));
  for (const m of MIGRATIONS.filter((x) => x.version < 11)) {
    db.exec(m.sql);
    db.pragma(`user_version = ${m.version}`);
  }
  db.exec(`
    INSERT INTO orgs (id, name, created_at) VALUES ('org_a', 'a', 1);
    INSERT INTO agents (id, org_id, name, tier, roles, tags, created_at)
      VALUES ('agt_a', 'org_a', 'a', 'verified', '[]', '[]', 1);
    INSERT INTO agent_keys (id, agent_id, alg, public_jwk, created_at)
      VALUES ('thumb', 'agt_a', 'EdDSA', '{}', 5);
    INSERT INTO refresh_tokens (id, family_id, digest, org_id, subject_kind, subject_id, issued_at, expires_at)
      VALUES ('rt_1', 'ses_a', x'01', 'org_a', 'agent', 'agt_a', 100, 900),
             ('rt_2', 'ses_a', x'02', 'org_a', 'agent', 'agt_a', 400, 1200);
  `);
  db.close();
}

describe("migration 11", () => {
  it("keeps agent keys, now keyed by org, and lets another org hold the same key", () => {
    before11();
    store = openStore(tmp.dir);
    expect(store.db.prepare("SELECT * FROM agent_keys").all()).toEqual([
      { org_id: "org_a", id: "thumb", agent_id: "agt_a", alg: "EdDSA", public_jwk: "{}", created_at: 5 },
    ]);
    store.db.exec(`
      INSERT INTO orgs (id, name, created_at) VALUES ('org_b', 'b', 1);
      INSERT INTO agents (id, org_id, name, tier, roles, tags, created_at)
        VALUES ('agt_b', 'org_b', 'b', 'verified', '[]', '[]', 1);
      INSERT INTO agent_keys (org_id, id, agent_id, alg, public_jwk, created_at)
        VALUES ('org_b', 'thumb', 'agt_b', 'EdDSA', '{}', 6);
    `);
    expect(() =>
      store?.db.exec(`INSERT INTO agent_keys (org_id, id, agent_id, alg, public_jwk, created_at)
        VALUES ('org_a', 'thumb', 'agt_a', 'EdDSA', '{}', 7)`),
    ).toThrow(/UNIQUE/);
    expect(store.db.pragma("integrity_check", { simple: true })).toBe("ok");
    expect(store.db.pragma("foreign_key_check")).toEqual([]);
  });

  it("dates every session from its first token, and ends old sessions when any key is removed", () => {
    before11();
    store = openStore(tmp.dir);
    const rows = new RefreshTokenRepository(store.db);
    expect(rows.byDigest(Buffer.from([2]))).toMatchObject({ startedAt: 100, credential: undefined });
    expect(rows.byDigest(Buffer.from([1]))).toMatchObject({ startedAt: 100, issuedAt: 100 });
    // Which key started it is unknown: removing any key of the agent ends it.
    expect(rows.familiesOf("agt_a", "key:other")).toEqual(["ses_a"]);
    expect(store.db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.at(-1)?.version);
  });
});
