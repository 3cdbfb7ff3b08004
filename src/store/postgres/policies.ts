import {
  type PolicySnapshot,
  type PolicySummaryRow,
  policyChangeAudit,
  type StoredSet,
} from "../policies.js";
import {
  type ChangeMeta,
  type CommitResult,
  type PolicyChange,
  type PolicyChangeRow,
  type PolicyHistoryDbRow,
  type PolicyWrite,
  planChange,
  policyChangeRowOf,
} from "../policy-changes.js";
import { type NamedDocument, policySetDigest } from "../policy-digest.js";
import { recordAudit, recordChange } from "./changes.js";
import type { PgDb, Sql } from "./pg-db.js";

/**
 * Names sort as SQLite's BINARY collation sorts them (byte order), whatever the database's
 * collation: lists, histories and document sets come out in the same order on both backends.
 */
const BY_NAME = `name COLLATE "C"`;

async function namedIn(sql: Sql, orgId: string): Promise<NamedDocument[]> {
  return sql.query<NamedDocument>(
    `SELECT name, document FROM policies WHERE org_id = $1 ORDER BY ${BY_NAME}`,
    [orgId],
  );
}

/** Writes a planned change as revision `revision`: the documents, and a history row for each (see writeChange). */
async function writeChange(
  sql: Sql,
  orgId: string,
  revision: number,
  change: { readonly put: readonly PolicyWrite[]; readonly remove: readonly string[] },
  meta: ChangeMeta,
): Promise<void> {
  const { now } = meta;
  const actor = meta.actor ?? null;
  const history = `INSERT INTO policy_history (org_id, revision, name, action, document, changed_at, actor)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`;
  for (const d of change.put) {
    await sql.query(
      `INSERT INTO policies (org_id, name, document, rule_count, revision, updated_at, kind)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (org_id, name) DO UPDATE SET document = excluded.document, rule_count = excluded.rule_count,
         revision = excluded.revision, updated_at = excluded.updated_at, kind = excluded.kind`,
      [orgId, d.name, d.document, d.ruleCount, revision, now, d.kind ?? "Policy"],
    );
    await sql.query(history, [orgId, revision, d.name, "put", d.document, now, actor]);
  }
  for (const name of change.remove) {
    await sql.query("DELETE FROM policies WHERE org_id = $1 AND name = $2", [orgId, name]);
    await sql.query(history, [orgId, revision, name, "delete", null, now, actor]);
  }
}

/** PolicyRepository on PostgreSQL: the same methods and rows, each answer a promise. */
export class PgPolicyRepository {
  constructor(private readonly db: PgDb) {}

  /** The org's policy revision as stored (other replicas may be ahead of this one's memory). */
  async storedRevision(orgId: string): Promise<number> {
    const row = await this.db.one<{ policy_revision: number }>(
      "SELECT policy_revision FROM orgs WHERE id = $1",
      [orgId],
    );
    return row?.policy_revision ?? 0;
  }

  /**
   * Makes one new revision of the org's policy (see PolicyRepository.commit). The org row is
   * locked (FOR UPDATE) before anything is read and stays locked until the revision commits:
   * a rival commit on another replica waits, then reads the set this one made, so no two
   * commits share a revision nor build on the same base. `check` may also be async; it runs
   * holding the lock.
   */
  async commit(
    orgId: string,
    change: PolicyChange,
    meta: ChangeMeta,
    check: (base: StoredSet) => void | Promise<void>,
  ): Promise<CommitResult | undefined> {
    return this.db.tx(async (sql) => {
      const org = await sql.one<{ policy_revision: number }>(
        "SELECT policy_revision FROM orgs WHERE id = $1 FOR UPDATE",
        [orgId],
      );
      const current = org?.policy_revision ?? 0;
      const stored = await namedIn(sql, orgId);
      await check({ revision: current, named: () => [...stored] });
      const plan = planChange(new Map(stored.map((d) => [d.name, d.document])), change);
      if (!plan) return undefined;
      const { writes, result } = plan;
      if (writes.length === 0 && result.removed.length === 0)
        return { ...result, revision: current, unchanged: true };
      const bumped = await sql.one<{ policy_revision: number }>(
        "UPDATE orgs SET policy_revision = policy_revision + 1 WHERE id = $1 RETURNING policy_revision",
        [orgId],
      );
      if (!bumped) throw new Error(`org ${orgId} vanished`);
      const revision = bumped.policy_revision;
      await writeChange(sql, orgId, revision, { put: writes, remove: result.removed }, meta);
      const digest = policySetDigest(await namedIn(sql, orgId));
      await sql.query(
        "INSERT INTO policy_revisions (org_id, revision, digest, created_at) VALUES ($1, $2, $3, $4)",
        [orgId, revision, digest, meta.now],
      );
      await recordChange(sql, "policy", orgId, String(revision));
      await recordAudit(sql, policyChangeAudit(orgId, current, revision, result, writes));
      return { ...result, revision, unchanged: false, digest };
    });
  }

  /** The document in force, or as stored at `revision` (the newest put at or before it). */
  async get(
    orgId: string,
    name: string,
    revision?: number,
  ): Promise<{ revision: number; document: string } | undefined> {
    if (revision === undefined) {
      return this.db.one<{ revision: number; document: string }>(
        "SELECT revision, document FROM policies WHERE org_id = $1 AND name = $2",
        [orgId, name],
      );
    }
    const row = await this.db.one<{ revision: number; document: string | null }>(
      `SELECT revision, document FROM policy_history WHERE org_id = $1 AND name = $2 AND revision <= $3
       ORDER BY revision DESC LIMIT 1`,
      [orgId, name, revision],
    );
    return row?.document != null ? { revision: row.revision, document: row.document } : undefined;
  }

  /** The org's stored documents with their names, in name order. */
  named(orgId: string): Promise<NamedDocument[]> {
    return namedIn(this.db, orgId);
  }

  /** The org's stored documents, in name order. */
  async documents(orgId: string): Promise<string[]> {
    return (await this.named(orgId)).map((r) => r.document);
  }

  async list(orgId: string): Promise<PolicySummaryRow[]> {
    type Row = {
      name: string;
      kind: PolicySummaryRow["kind"];
      revision: number;
      rule_count: number;
      updated_at: number;
    };
    const rows = await this.db.query<Row>(
      `SELECT name, kind, revision, rule_count, updated_at FROM policies WHERE org_id = $1 ORDER BY ${BY_NAME}`,
      [orgId],
    );
    return rows.map((r) => ({
      name: r.name,
      kind: r.kind,
      revision: r.revision,
      ruleCount: r.rule_count,
      updatedAt: r.updated_at,
    }));
  }

  /** Every change to the org's policies (or to one), newest first. */
  async history(orgId: string, name?: string): Promise<PolicyChangeRow[]> {
    const rows = await this.db.query<PolicyHistoryDbRow>(
      `SELECT revision, name, action, changed_at, actor FROM policy_history
       WHERE org_id = $1 AND ($2::text IS NULL OR name = $2) ORDER BY revision DESC, ${BY_NAME}`,
      [orgId, name ?? null],
    );
    return rows.map(policyChangeRowOf);
  }

  /** The org's revision, its documents and their digest, read consistently (one statement, one snapshot). */
  async snapshot(orgId: string): Promise<PolicySnapshot> {
    const rows = await this.db.query<{
      policy_revision: number | null;
      name: string | null;
      document: string | null;
    }>(
      `SELECT o.policy_revision, p.name, p.document
         FROM (VALUES ($1::text)) AS k(id)
         LEFT JOIN orgs o ON o.id = k.id
         LEFT JOIN policies p ON p.org_id = k.id
        ORDER BY p.${BY_NAME}`,
      [orgId],
    );
    const documents = documentsOf(rows);
    return { revision: rows[0]?.policy_revision ?? 0, documents, digest: policySetDigest(documents) };
  }

  /** The org's revision and the digest stored with it (null for a revision made before digests were stored). */
  async state(orgId: string): Promise<{ revision: number; digest: string | null }> {
    const row = await this.db.one<{ policy_revision: number; digest: string | null }>(
      `SELECT o.policy_revision, r.digest FROM orgs o
       LEFT JOIN policy_revisions r ON r.org_id = o.id AND r.revision = o.policy_revision WHERE o.id = $1`,
      [orgId],
    );
    return { revision: row?.policy_revision ?? 0, digest: row?.digest ?? null };
  }

  /** Every org's revision and the digest stored with it (see PolicyRepository.states). */
  async states(): Promise<{ orgId: string; revision: number; digest: string | null }[]> {
    const rows = await this.db.query<{ id: string; policy_revision: number; digest: string | null }>(
      `SELECT o.id, o.policy_revision, r.digest FROM orgs o
       LEFT JOIN policy_revisions r ON r.org_id = o.id AND r.revision = o.policy_revision`,
    );
    return rows.map((r) => ({ orgId: r.id, revision: r.policy_revision, digest: r.digest }));
  }

  /** Every org's revision, documents and digest, each org's read consistently (one statement for all). */
  async loadAll(): Promise<
    { orgId: string; revision: number; documents: readonly string[]; digest: string }[]
  > {
    const rows = await this.db.query<{
      id: string;
      policy_revision: number;
      name: string | null;
      document: string | null;
    }>(
      `SELECT o.id, o.policy_revision, p.name, p.document FROM orgs o
       LEFT JOIN policies p ON p.org_id = o.id ORDER BY o.id, p.${BY_NAME}`,
    );
    const byOrg = new Map<string, typeof rows>();
    for (const r of rows) {
      const list = byOrg.get(r.id);
      if (list) list.push(r);
      else byOrg.set(r.id, [r]);
    }
    return [...byOrg].map(([orgId, orgRows]) => {
      const named = documentsOf(orgRows);
      return {
        orgId,
        revision: orgRows[0]?.policy_revision ?? 0,
        documents: named.map((d) => d.document),
        digest: policySetDigest(named),
      };
    });
  }
}

/** The documents of LEFT JOIN rows (an org without documents gives one row of nulls). */
function documentsOf(rows: readonly { name: string | null; document: string | null }[]): NamedDocument[] {
  return rows.flatMap((r) =>
    r.name === null || r.document === null ? [] : [{ name: r.name, document: r.document }],
  );
}
