/**
 * Versioned schema migrations, applied in order at start. The database's
 * `PRAGMA user_version` records the last one applied. Never edit a released migration:
 * add a new one.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "initial schema",
    sql: `
      CREATE TABLE orgs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        policy_revision INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
      ) STRICT;

      -- API keys and admin tokens: only SHA-256 digests of the secrets are stored.
      CREATE TABLE org_credentials (
        id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('api_key', 'admin_token')),
        digest BLOB NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
      ) STRICT;
      CREATE INDEX org_credentials_org ON org_credentials(org_id);

      CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        tier TEXT NOT NULL CHECK (tier IN ('unverified', 'verified', 'trusted', 'privileged')),
        roles TEXT NOT NULL,
        tags TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (org_id, name)
      ) STRICT;

      CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        alg TEXT NOT NULL,
        public_jwk TEXT NOT NULL,
        private_jwk TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('active', 'retired')),
        created_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE policies (
        org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        document TEXT NOT NULL,
        rule_count INTEGER NOT NULL,
        revision INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (org_id, name)
      ) STRICT;

      -- mTLS identities (SPIFFE IDs or CNs) that speak for an org.
      CREATE TABLE service_identities (
        identity TEXT PRIMARY KEY,
        org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: "policy history",
    sql: `
      -- Every change to an org's policies, one row per document per revision.
      CREATE TABLE policy_history (
        org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        revision INTEGER NOT NULL,
        name TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('put', 'delete')),
        document TEXT,
        changed_at INTEGER NOT NULL,
        PRIMARY KEY (org_id, revision, name)
      ) STRICT;
      INSERT INTO policy_history (org_id, revision, name, action, document, changed_at)
        SELECT org_id, revision, name, 'put', document, updated_at FROM policies;
    `,
  },
  {
    version: 3,
    name: "change log",
    sql: `
      -- Changes that other processes on this database must apply to their in-memory state
      -- (policy revisions, keys, revocations, suspensions). Written in the same transaction
      -- as the change; each server process polls it. Old rows are pruned.
      CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        org_id TEXT,
        ref TEXT,
        at INTEGER NOT NULL
      ) STRICT;
    `,
  },
];
