/**
 * What `tessera migrate-store` copies from SQLite to PostgreSQL: every table that holds Tessera
 * data, parents before the children whose foreign keys name them, so each batch's rows find
 * theirs already inserted. The two schemas have the same tables and column names (see
 * postgres/schema-core.ts); a test compares this list with both, so a table added to either
 * schema and not here fails the build instead of being left behind.
 */
export interface MigratedTable {
  readonly name: string;
  /**
   * The query reading the table, given its quoted column list, when the order of its rows
   * matters: agents, parents before sub-agents (parent_id references agents itself).
   */
  readonly select?: (columns: string) => string;
}

/** Agents level by level from the top: a sub-agent's parent is always in an earlier batch. */
const AGENTS_PARENTS_FIRST = (columns: string) => `
  WITH RECURSIVE tree(id, depth) AS (
    SELECT id, 0 FROM agents WHERE parent_id IS NULL
    UNION ALL
    SELECT a.id, t.depth + 1 FROM agents a JOIN tree t ON a.parent_id = t.id
  )
  SELECT ${columns} FROM agents JOIN tree USING (id) ORDER BY tree.depth, agents.rowid`;

export const MIGRATED_TABLES: readonly MigratedTable[] = [
  { name: "orgs" },
  { name: "org_credentials" },
  { name: "agents", select: AGENTS_PARENTS_FIRST },
  { name: "agent_tombstones" },
  { name: "agent_keys" },
  { name: "used_assertions" },
  { name: "policies" },
  { name: "policy_history" },
  { name: "policy_revisions" },
  { name: "signing_keys" },
  { name: "users" },
  { name: "login_failures" },
  { name: "login_throttle" },
  { name: "login_known_sources" },
  { name: "refresh_tokens" },
  { name: "revocations" },
  { name: "service_identities" },
  { name: "identity_namespaces" },
  { name: "operator_tokens" },
  { name: "operator_actions" },
  { name: "org_trust" },
  { name: "admin_audit" },
  { name: "credential_usage" },
  { name: "changes" },
  { name: "decision_segments" },
  { name: "decision_batches" },
  { name: "decision_overflow" },
];

/** SQLite's own bookkeeping (AUTOINCREMENT counters), not Tessera data. */
export const SQLITE_ONLY_TABLES: readonly string[] = ["sqlite_sequence"];

/**
 * PostgreSQL's own: the change counter (set from the copied change log) and the record of
 * applied migrations.
 */
export const PG_ONLY_TABLES: readonly string[] = ["change_seq", "schema_migrations"];

/** An identifier, quoted for SQLite and PostgreSQL alike (several columns are keywords: count, key). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
