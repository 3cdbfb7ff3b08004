import type { DevTraces } from "../dev-traces.js";
import type { Sql } from "./pg-db.js";

/** Spaces, tabs and line ends: what a policy document may gain or lose around it when stored (as on SQLite). */
const BLANKS = " \t\n\r";

/**
 * readDevTraces on PostgreSQL: the traces of a development start in the database `sql` reaches,
 * read without writing or migrating anything; undefined when it holds no Tessera schema yet.
 * Throws when the database cannot be reached or read.
 */
export async function readPgDevTraces(
  sql: Sql,
  look: { readonly orgName: string; readonly policyName: string; readonly policyDocument: string },
): Promise<DevTraces | undefined> {
  const schema = await sql.one<{ orgs: string | null }>("SELECT to_regclass('orgs')::text AS orgs");
  if (!schema?.orgs) return undefined;
  const orgs = await sql.query<{ id: string }>("SELECT id FROM orgs WHERE name = $1", [look.orgName]);
  const policies = await sql.query<{ orgId: string; name: string; document: string }>(
    `SELECT org_id AS "orgId", name, document FROM policies
     WHERE name = $1 OR btrim(document, $3) = btrim($2, $3) ORDER BY org_id COLLATE "C", name COLLATE "C"`,
    [look.policyName, look.policyDocument, BLANKS],
  );
  return { orgs, policies };
}
