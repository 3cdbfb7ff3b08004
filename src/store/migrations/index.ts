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
  {
    version: 4,
    name: "credentials and token lifecycle",
    sql: `
      -- Scoped API keys live beside the org's primary key and admin token.
      ALTER TABLE org_credentials ADD COLUMN name TEXT NOT NULL DEFAULT '';
      ALTER TABLE org_credentials ADD COLUMN scopes TEXT;            -- JSON list; NULL = primary key / admin token
      ALTER TABLE org_credentials ADD COLUMN prefix TEXT NOT NULL DEFAULT '';
      ALTER TABLE org_credentials ADD COLUMN expires_at INTEGER;     -- NULL = never
      ALTER TABLE org_credentials ADD COLUMN grace_until INTEGER;    -- set when rotated out: valid until then

      ALTER TABLE agents ADD COLUMN suspended_at INTEGER;
      -- Tokens issued at or before this second are dead (set on suspension; resuming keeps it).
      ALTER TABLE agents ADD COLUMN tokens_valid_after INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE agents ADD COLUMN secret_digest BLOB;

      CREATE TABLE agent_keys (
        id TEXT PRIMARY KEY,                    -- JWK thumbprint
        agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
        alg TEXT NOT NULL CHECK (alg IN ('EdDSA', 'RS256')),
        public_jwk TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (agent_id, id)
      ) STRICT;

      -- Client-assertion ids already used, until they expire (replay protection across processes).
      CREATE TABLE used_assertions (
        jti TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE users (
        id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        username TEXT NOT NULL,
        password_hash TEXT NOT NULL,            -- scrypt, with its parameters and salt
        role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        created_at INTEGER NOT NULL,
        UNIQUE (org_id, username)
      ) STRICT;

      -- Failed logins per (org, username), whether or not the user exists, so lockout reveals nothing.
      CREATE TABLE login_failures (
        org_id TEXT NOT NULL,
        username TEXT NOT NULL,
        failures INTEGER NOT NULL,
        locked_until INTEGER NOT NULL DEFAULT 0,
        last_failure_at INTEGER NOT NULL,
        PRIMARY KEY (org_id, username)
      ) STRICT;

      -- Rotating refresh tokens: one family per login; only digests are stored.
      CREATE TABLE refresh_tokens (
        id TEXT PRIMARY KEY,
        family_id TEXT NOT NULL,
        digest BLOB NOT NULL UNIQUE,
        org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        subject_kind TEXT NOT NULL CHECK (subject_kind IN ('agent', 'user')),
        subject_id TEXT NOT NULL,
        issued_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER,
        revoked_at INTEGER
      ) STRICT;
      CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);

      -- Revoked access tokens (by jti) and sessions (by family), until the tokens would expire.
      CREATE TABLE revocations (
        kind TEXT NOT NULL CHECK (kind IN ('jti', 'family')),
        value TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (kind, value)
      ) STRICT;

      -- Signing keys gain a lifecycle: next (published) → active (signing) → retired (published
      -- until its last token expires). SQLite cannot change a CHECK, so the table is rebuilt.
      CREATE TABLE signing_keys_v4 (
        kid TEXT PRIMARY KEY,
        alg TEXT NOT NULL CHECK (alg IN ('EdDSA', 'ES256')),
        public_jwk TEXT NOT NULL,
        private_jwk TEXT NOT NULL,              -- encrypted with the master key when one is configured
        state TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
        created_at INTEGER NOT NULL,
        published_until INTEGER
      ) STRICT;
      INSERT INTO signing_keys_v4 (kid, alg, public_jwk, private_jwk, state, created_at)
        SELECT kid, alg, public_jwk, private_jwk, state, created_at FROM signing_keys;
      DROP TABLE signing_keys;
      ALTER TABLE signing_keys_v4 RENAME TO signing_keys;
    `,
  },
  {
    version: 5,
    name: "decision log",
    sql: `
      -- Every Authorize decision, written in batches off the hot path. The integer key makes
      -- inserts appends; the decision's own (random) id is a plain column.
      CREATE TABLE decision_log (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        org_id TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        subject_id TEXT NOT NULL,
        scope TEXT NOT NULL,
        resource_kind TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        allowed INTEGER NOT NULL,
        reason TEXT NOT NULL,
        rule TEXT NOT NULL,
        revision INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX decision_log_org_time ON decision_log(org_id, at_ms);
    `,
  },
  {
    version: 6,
    name: "decision log in segments",
    sql: `
      -- The writer thread stores each batch as one row per org: a JSON array of records.
      -- One insert per batch instead of one indexed row per decision costs the writer about
      -- a third of the CPU (it shares the machine with the server). The decision_log view
      -- below gives the same columns as before, one row per decision, for SQL readers.
      CREATE TABLE decision_segments (
        seq INTEGER PRIMARY KEY,
        org_id TEXT NOT NULL,
        first_at_ms INTEGER NOT NULL,
        last_at_ms INTEGER NOT NULL,
        count INTEGER NOT NULL,
        -- [[id, at_ms, subject_id, scope, resource_kind, resource_id, allowed, reason, rule, revision], ...]
        records TEXT NOT NULL CHECK (json_valid(records))
      ) STRICT;
      CREATE INDEX decision_segments_org_time ON decision_segments(org_id, last_at_ms);
      INSERT INTO decision_segments (org_id, first_at_ms, last_at_ms, count, records)
        SELECT org_id, min(at_ms), max(at_ms), count(*),
          json_group_array(json_array(id, at_ms, subject_id, scope, resource_kind, resource_id,
            allowed, reason, rule, revision) ORDER BY seq)
        FROM decision_log GROUP BY org_id;
      DROP TABLE decision_log;
      CREATE VIEW decision_log AS
        SELECT s.seq AS segment, j.key AS position, s.org_id AS org_id,
          j.value ->> 0 AS id, j.value ->> 1 AS at_ms, j.value ->> 2 AS subject_id,
          j.value ->> 3 AS scope, j.value ->> 4 AS resource_kind, j.value ->> 5 AS resource_id,
          j.value ->> 6 AS allowed, j.value ->> 7 AS reason, j.value ->> 8 AS rule,
          j.value ->> 9 AS revision
        FROM decision_segments s, json_each(s.records) j;
    `,
  },
  {
    version: 7,
    name: "sub-agents and agent tombstones",
    sql: `
      -- The agent an agent is a sub-agent of: only that parent may mint tokens for it.
      ALTER TABLE agents ADD COLUMN parent_id TEXT REFERENCES agents(id) ON DELETE SET NULL;
      CREATE INDEX agents_parent ON agents(parent_id) WHERE parent_id IS NOT NULL;

      -- Deleted agents, kept until every token issued to them has expired, so that a restart
      -- or a new worker still refuses those tokens.
      CREATE TABLE agent_tombstones (
        id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        deleted_at INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 8,
    name: "policy revision digests",
    sql: `
      -- The SHA-256 of each policy revision's document set (see store/policy-digest.ts), written
      -- in the transaction that makes the revision. Every server process compiles revision N from
      -- exactly this set; one whose compiled digest differs reloads it (core/policy-sync.ts).
      -- Revisions made before this migration have no row: processes compare their number only.
      CREATE TABLE policy_revisions (
        org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        revision INTEGER NOT NULL,
        digest TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (org_id, revision)
      ) STRICT;
    `,
  },
  {
    version: 9,
    name: "decision log: caller, batch ids, overflow summaries",
    sql: `
      -- Each stored batch, by its id: a batch written twice (retried after a timeout, or moved
      -- in again from a spill file after a crash) is stored once.
      CREATE TABLE decision_batches (
        batch_id TEXT PRIMARY KEY,
        written_at_ms INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;

      -- Decisions an org made after using its byte budget for a quota window: counted, not
      -- stored one by one, so one tenant cannot fill the disk and nothing goes unaccounted.
      CREATE TABLE decision_overflow (
        seq INTEGER PRIMARY KEY,
        org_id TEXT NOT NULL,
        window_start_ms INTEGER NOT NULL,
        window_end_ms INTEGER NOT NULL,
        dropped INTEGER NOT NULL,
        allowed INTEGER NOT NULL,
        denied INTEGER NOT NULL,
        dropped_bytes INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX decision_overflow_org_time ON decision_overflow(org_id, window_start_ms);

      -- Records gain a trailing element, the caller; older records read back as ''.
      DROP VIEW decision_log;
      CREATE VIEW decision_log AS
        SELECT s.seq AS segment, j.key AS position, s.org_id AS org_id,
          j.value ->> 0 AS id, j.value ->> 1 AS at_ms, j.value ->> 2 AS subject_id,
          j.value ->> 3 AS scope, j.value ->> 4 AS resource_kind, j.value ->> 5 AS resource_id,
          j.value ->> 6 AS allowed, j.value ->> 7 AS reason, j.value ->> 8 AS rule,
          j.value ->> 9 AS revision, coalesce(j.value ->> 10, '') AS caller
        FROM decision_segments s, json_each(s.records) j;
    `,
  },
  {
    version: 10,
    name: "server operator and identity namespaces",
    sql: `
      -- Service identities are keyed by (source, identity): a certificate CN that reads like a
      -- SPIFFE ID is a CN, never that SPIFFE ID. Rows from before keep their org; the source
      -- follows from the text (the old CN form could not contain ':' or '/').
      CREATE TABLE service_identities_v10 (
        source TEXT NOT NULL CHECK (source IN ('spiffe', 'cn')),
        identity TEXT NOT NULL,
        org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (source, identity)
      ) STRICT;
      INSERT INTO service_identities_v10 (source, identity, org_id, created_at)
        SELECT CASE WHEN substr(identity, 1, 9) = 'spiffe://' THEN 'spiffe' ELSE 'cn' END,
          identity, org_id, created_at
        FROM service_identities;
      DROP TABLE service_identities;
      ALTER TABLE service_identities_v10 RENAME TO service_identities;
      CREATE INDEX service_identities_org ON service_identities(org_id);

      -- Which identities an org may bind, by operator decision: a SPIFFE trust domain or path
      -- prefix (pattern ends in '/'), one SPIFFE ID, or one CN. Namespaces of different orgs
      -- never overlap. Each existing binding becomes an exact namespace of its org, so it keeps
      -- working and no other org can take it.
      CREATE TABLE identity_namespaces (
        source TEXT NOT NULL CHECK (source IN ('spiffe', 'cn')),
        pattern TEXT NOT NULL,
        match TEXT NOT NULL CHECK (match IN ('prefix', 'exact')),
        org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (source, pattern)
      ) STRICT;
      CREATE INDEX identity_namespaces_org ON identity_namespaces(org_id);
      INSERT INTO identity_namespaces (source, pattern, match, org_id, created_at)
        SELECT source, identity, 'exact', org_id, created_at FROM service_identities;

      -- The server operator's tokens (tso_...): only SHA-256 digests are stored.
      CREATE TABLE operator_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        digest BLOB NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
      ) STRICT;

      -- Rate-limited server-wide operations (signing-key rotation, org creation), counted here
      -- so the limit holds across every worker and restart; also a record of who did them.
      CREATE TABLE operator_actions (
        seq INTEGER PRIMARY KEY,
        action TEXT NOT NULL,
        actor TEXT NOT NULL,
        at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX operator_actions_action_at ON operator_actions(action, at);
    `,
  },
  {
    version: 11,
    name: "per-org agent keys, session lifetime and origin, login throttles",
    sql: `
      -- An agent key is unique within its org, not across orgs: one org must not be able to
      -- squat another's key by registering it first. SQLite cannot change a primary key, so the
      -- table is rebuilt with the org in the key; every existing row is kept.
      CREATE TABLE agent_keys_v11 (
        org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        id TEXT NOT NULL,                       -- JWK thumbprint
        agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
        alg TEXT NOT NULL CHECK (alg IN ('EdDSA', 'RS256')),
        public_jwk TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (org_id, id),
        UNIQUE (agent_id, id)
      ) STRICT;
      INSERT INTO agent_keys_v11 (org_id, id, agent_id, alg, public_jwk, created_at)
        SELECT a.org_id, k.id, k.agent_id, k.alg, k.public_jwk, k.created_at
        FROM agent_keys k JOIN agents a ON a.id = k.agent_id;
      DROP TABLE agent_keys;
      ALTER TABLE agent_keys_v11 RENAME TO agent_keys;

      -- When the session (family) started, for its absolute lifetime, and the credential that
      -- started it ('secret', 'password', 'key:<thumbprint>'; NULL before this migration), so
      -- removing a key ends the sessions that key started.
      ALTER TABLE refresh_tokens ADD COLUMN started_at INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE refresh_tokens ADD COLUMN credential TEXT;
      UPDATE refresh_tokens SET started_at =
        (SELECT min(r.issued_at) FROM refresh_tokens r WHERE r.family_id = refresh_tokens.family_id);
      -- A credential change ends every session of its subject.
      CREATE INDEX refresh_tokens_subject ON refresh_tokens(subject_id);

      -- Failed logins per source (network address or mTLS identity) and per org, in fixed
      -- windows. A source past its limit is refused until locked_until; an org only slows down.
      CREATE TABLE login_throttle (
        kind TEXT NOT NULL CHECK (kind IN ('source', 'org')),
        key TEXT NOT NULL,
        failures INTEGER NOT NULL,
        window_start INTEGER NOT NULL,
        locked_until INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (kind, key)
      ) STRICT;

      -- Sources a user has logged in from: a username lock does not apply to them, so an
      -- attacker cannot lock the owner out. Forgotten after a while, and on a password reset.
      CREATE TABLE login_known_sources (
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        source TEXT NOT NULL,
        last_success_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, source)
      ) STRICT;
      CREATE INDEX login_known_sources_age ON login_known_sources(last_success_at);
      CREATE INDEX login_failures_age ON login_failures(last_failure_at);
    `,
  },
  {
    version: 12,
    name: "policy history actor",
    sql: `
      -- Who made each policy change: the caller's credential as admin:KEY_ID (the org's API key
      -- with its admin token), api_key:KEY_ID, user:USER_ID, or server (a development org's
      -- example policy); never a secret. NULL for changes made before it was kept.
      ALTER TABLE policy_history ADD COLUMN actor TEXT;
    `,
  },
  {
    version: 13,
    name: "cross-org trust",
    sql: `
      -- Orgs whose tokens an org accepts as Authorize subjects, decided under its own policies.
      -- One direction only: (A, B) lets A's callers present B's tokens, never the reverse. Both
      -- must exist; deleting either org removes the trust.
      CREATE TABLE org_trust (
        org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        trusted_org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        -- Who made it, as the policy history names actors (admin:KEY_ID, api_key:KEY_ID,
        -- user:USER_ID); never a secret.
        actor TEXT NOT NULL,
        PRIMARY KEY (org_id, trusted_org_id),
        CHECK (org_id <> trusted_org_id)
      ) STRICT, WITHOUT ROWID;

      -- Records gain a twelfth element, the subject's org when it is not the deciding org (a
      -- trusted org's token); older records, and every other decision, read back as ''.
      DROP VIEW decision_log;
      CREATE VIEW decision_log AS
        SELECT s.seq AS segment, j.key AS position, s.org_id AS org_id,
          j.value ->> 0 AS id, j.value ->> 1 AS at_ms, j.value ->> 2 AS subject_id,
          j.value ->> 3 AS scope, j.value ->> 4 AS resource_kind, j.value ->> 5 AS resource_id,
          j.value ->> 6 AS allowed, j.value ->> 7 AS reason, j.value ->> 8 AS rule,
          j.value ->> 9 AS revision, coalesce(j.value ->> 10, '') AS caller,
          coalesce(j.value ->> 11, '') AS subject_org
        FROM decision_segments s, json_each(s.records) j;
    `,
  },
  {
    version: 14,
    name: "policy document kind",
    sql: `
      -- A stored document is a Policy or a RouteMap (HTTP requests to scopes and resources, issue
      -- #12); both share the org's names, revisions, history and digest. rule_count holds a
      -- RouteMap's route count. Documents stored before RouteMaps existed are all Policies.
      ALTER TABLE policies ADD COLUMN kind TEXT NOT NULL DEFAULT 'Policy' CHECK (kind IN ('Policy', 'RouteMap'));
    `,
  },
  {
    version: 15,
    name: "admin audit trail, decision segments by time",
    sql: `
      -- Every admin change (agents, policies, keys, users, API keys, credentials, service
      -- identities, signing keys, org trust), written in the transaction that makes it: who
      -- (principal id and how it authenticated), what, a before/after summary (JSON, never a
      -- secret), when and the call's request id. org_id is NULL for server-wide state (signing
      -- keys). No foreign key: the record outlives what it describes.
      CREATE TABLE admin_audit (
        seq INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        org_id TEXT,
        actor TEXT NOT NULL,
        auth_method TEXT NOT NULL
          CHECK (auth_method IN ('api_key', 'admin_token', 'user_session', 'mtls', 'operator', 'system')),
        action TEXT NOT NULL,
        target_kind TEXT NOT NULL,
        target_id TEXT NOT NULL,
        before TEXT CHECK (before IS NULL OR json_valid(before)),
        after TEXT CHECK (after IS NULL OR json_valid(after)),
        request_id TEXT NOT NULL DEFAULT ''
      ) STRICT;
      -- Queries page through one org's records in seq order (the rowid rides along in the index).
      CREATE INDEX admin_audit_org ON admin_audit(org_id);
      CREATE INDEX admin_audit_org_target ON admin_audit(org_id, target_kind, target_id);

      -- Retention deletes segments by age across every org, oldest first: without this index each
      -- batch read the whole table (records included) to find them.
      CREATE INDEX decision_segments_time ON decision_segments(last_at_ms);
      CREATE INDEX decision_batches_time ON decision_batches(written_at_ms);
      -- QueryDecisions walks one org's segments in log order (seq, the rowid, rides along).
      CREATE INDEX decision_segments_org_seq ON decision_segments(org_id);
    `,
  },
  {
    version: 16,
    name: "rate limits and credential usage",
    sql: `
      -- A key's own rate limit (issue #13): requests per second and burst; NULL takes the org
      -- default from the server's configuration.
      ALTER TABLE org_credentials ADD COLUMN rate_limit_rps INTEGER CHECK (rate_limit_rps > 0);
      ALTER TABLE org_credentials ADD COLUMN rate_limit_burst INTEGER CHECK (rate_limit_burst > 0);

      -- When each credential (API key, admin token, agent, user, mTLS identity) was last used
      -- and how often, as the workers' batched counters add up. credential is the resolved id
      -- (api_key:ID, agent:ID, …), never a secret.
      CREATE TABLE credential_usage (
        org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        credential TEXT NOT NULL,
        last_used_at INTEGER NOT NULL,
        use_count INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (org_id, credential)
      ) STRICT, WITHOUT ROWID;
    `,
  },
];
