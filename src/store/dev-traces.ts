import { existsSync } from "node:fs";
import Database from "better-sqlite3";
import { databasePath } from "./db.js";

/** Spaces, tabs and line ends: what a policy document may gain or lose around it when stored. */
const BLANKS = "char(32, 9, 10, 13)";

/** What a data directory's store holds that a development start leaves behind. */
export interface DevTraces {
  /** Orgs with the given name (the development org's). */
  readonly orgs: readonly { readonly id: string }[];
  /** Policies with the given name, or whose document is the given one. */
  readonly policies: readonly { readonly orgId: string; readonly name: string; readonly document: string }[];
}

/**
 * Reads, without writing or migrating anything, the traces of a development start in the store
 * of `dataDir`: undefined when there is no database yet. Throws when the file cannot be read as
 * a Tessera database.
 */
export function readDevTraces(
  dataDir: string,
  look: { readonly orgName: string; readonly policyName: string; readonly policyDocument: string },
): DevTraces | undefined {
  const path = databasePath(dataDir);
  if (!existsSync(path)) return undefined;
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.pragma("busy_timeout = 5000");
    const orgs = db.prepare<[string], { id: string }>("SELECT id FROM orgs WHERE name = ?").all(look.orgName);
    const policies = db
      .prepare<[string, string], { orgId: string; name: string; document: string }>(
        `SELECT org_id AS orgId, name, document FROM policies
         WHERE name = ? OR trim(document, ${BLANKS}) = trim(?, ${BLANKS}) ORDER BY org_id, name`,
      )
      .all(look.policyName, look.policyDocument);
    return { orgs, policies };
  } finally {
    db.close();
  }
}
