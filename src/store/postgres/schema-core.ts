/**
 * The PostgreSQL schema of everything but the decision log: the SQLite schema after its
 * migration 16, column for column (so `migrate-store` copies rows by name), with PostgreSQL
 * types: BIGINT for INTEGER, BYTEA for BLOB. The one difference is `changes`: its sequence
 * numbers come from the single-row `change_seq` counter, updated in the transaction that makes
 * the change, so they commit in order and a replica reading `seq > n` never skips one.
 */
export const CORE_SCHEMA = `
CREATE TABLE orgs (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  policy_revision BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);

-- API keys and admin tokens: only SHA-256 digests of the secrets are stored.
CREATE TABLE org_credentials (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('api_key', 'admin_token')),
  digest BYTEA NOT NULL UNIQUE,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT,
  name TEXT NOT NULL DEFAULT '',
  scopes TEXT,
  prefix TEXT NOT NULL DEFAULT '',
  expires_at BIGINT,
  grace_until BIGINT,
  rate_limit_rps BIGINT CHECK (rate_limit_rps > 0),
  rate_limit_burst BIGINT CHECK (rate_limit_burst > 0)
);
CREATE INDEX org_credentials_org ON org_credentials(org_id);

CREATE TABLE agents (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  tier TEXT NOT NULL CHECK (tier IN ('unverified', 'verified', 'trusted', 'privileged')),
  roles TEXT NOT NULL,
  tags TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  suspended_at BIGINT,
  tokens_valid_after BIGINT NOT NULL DEFAULT 0,
  secret_digest BYTEA,
  parent_id TEXT REFERENCES agents(id) ON DELETE SET NULL,
  UNIQUE (org_id, name)
);
CREATE INDEX agents_parent ON agents(parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE agent_tombstones (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  deleted_at BIGINT NOT NULL
);

CREATE TABLE agent_keys (
  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  id TEXT NOT NULL,
  agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
  alg TEXT NOT NULL CHECK (alg IN ('EdDSA', 'RS256')),
  public_jwk TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (org_id, id),
  UNIQUE (agent_id, id)
);

CREATE TABLE policies (
  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  document TEXT NOT NULL,
  rule_count BIGINT NOT NULL,
  revision BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  kind TEXT NOT NULL DEFAULT 'Policy' CHECK (kind IN ('Policy', 'RouteMap')),
  PRIMARY KEY (org_id, name)
);

CREATE TABLE policy_history (
  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  revision BIGINT NOT NULL,
  name TEXT NOT NULL,
  action TEXT NOT NULL CHECK (action IN ('put', 'delete')),
  document TEXT,
  changed_at BIGINT NOT NULL,
  actor TEXT,
  PRIMARY KEY (org_id, revision, name)
);

CREATE TABLE policy_revisions (
  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  revision BIGINT NOT NULL,
  digest TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (org_id, revision)
);

CREATE TABLE change_seq (
  only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
  seq BIGINT NOT NULL
);
INSERT INTO change_seq (only_row, seq) VALUES (TRUE, 0);

CREATE TABLE changes (
  seq BIGINT PRIMARY KEY,
  kind TEXT NOT NULL,
  org_id TEXT,
  ref TEXT,
  at BIGINT NOT NULL
);
CREATE INDEX changes_at ON changes(at);

CREATE TABLE used_assertions (
  jti TEXT PRIMARY KEY,
  agent_id TEXT NOT NULL,
  expires_at BIGINT NOT NULL
);

CREATE TABLE users (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  username TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  created_at BIGINT NOT NULL,
  UNIQUE (org_id, username)
);

CREATE TABLE login_failures (
  org_id TEXT NOT NULL,
  username TEXT NOT NULL,
  failures BIGINT NOT NULL,
  locked_until BIGINT NOT NULL DEFAULT 0,
  last_failure_at BIGINT NOT NULL,
  PRIMARY KEY (org_id, username)
);
CREATE INDEX login_failures_age ON login_failures(last_failure_at);

CREATE TABLE login_throttle (
  kind TEXT NOT NULL CHECK (kind IN ('source', 'org')),
  key TEXT NOT NULL,
  failures BIGINT NOT NULL,
  window_start BIGINT NOT NULL,
  locked_until BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (kind, key)
);

CREATE TABLE login_known_sources (
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  source TEXT NOT NULL,
  last_success_at BIGINT NOT NULL,
  PRIMARY KEY (user_id, source)
);
CREATE INDEX login_known_sources_age ON login_known_sources(last_success_at);

CREATE TABLE refresh_tokens (
  id TEXT PRIMARY KEY,
  family_id TEXT NOT NULL,
  digest BYTEA NOT NULL UNIQUE,
  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  subject_kind TEXT NOT NULL CHECK (subject_kind IN ('agent', 'user')),
  subject_id TEXT NOT NULL,
  issued_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT,
  revoked_at BIGINT,
  started_at BIGINT NOT NULL DEFAULT 0,
  credential TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
CREATE INDEX refresh_tokens_subject ON refresh_tokens(subject_id);

CREATE TABLE revocations (
  kind TEXT NOT NULL CHECK (kind IN ('jti', 'family')),
  value TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (kind, value)
);

CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  alg TEXT NOT NULL CHECK (alg IN ('EdDSA', 'ES256')),
  public_jwk TEXT NOT NULL,
  private_jwk TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
  created_at BIGINT NOT NULL,
  published_until BIGINT
);

CREATE TABLE service_identities (
  source TEXT NOT NULL CHECK (source IN ('spiffe', 'cn')),
  identity TEXT NOT NULL,
  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (source, identity)
);
CREATE INDEX service_identities_org ON service_identities(org_id);

CREATE TABLE identity_namespaces (
  source TEXT NOT NULL CHECK (source IN ('spiffe', 'cn')),
  pattern TEXT NOT NULL,
  match TEXT NOT NULL CHECK (match IN ('prefix', 'exact')),
  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (source, pattern)
);
CREATE INDEX identity_namespaces_org ON identity_namespaces(org_id);

CREATE TABLE operator_tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  digest BYTEA NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);

CREATE TABLE operator_actions (
  seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  action TEXT NOT NULL,
  actor TEXT NOT NULL,
  at BIGINT NOT NULL
);
CREATE INDEX operator_actions_action_at ON operator_actions(action, at);

CREATE TABLE org_trust (
  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  trusted_org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  actor TEXT NOT NULL,
  PRIMARY KEY (org_id, trusted_org_id),
  CHECK (org_id <> trusted_org_id)
);

CREATE TABLE admin_audit (
  seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  at_ms BIGINT NOT NULL,
  org_id TEXT,
  actor TEXT NOT NULL,
  auth_method TEXT NOT NULL
    CHECK (auth_method IN ('api_key', 'admin_token', 'user_session', 'mtls', 'operator', 'system')),
  action TEXT NOT NULL,
  target_kind TEXT NOT NULL,
  target_id TEXT NOT NULL,
  before TEXT,
  after TEXT,
  request_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX admin_audit_org ON admin_audit(org_id);
CREATE INDEX admin_audit_org_target ON admin_audit(org_id, target_kind, target_id);

CREATE TABLE credential_usage (
  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  credential TEXT NOT NULL,
  last_used_at BIGINT NOT NULL,
  use_count BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, credential)
);
`;
