/** Why `tessera migrate-store` refused, or stopped and committed nothing. */
export type MigrateStoreProblem =
  /** No Tessera database at the source path. */
  | "SOURCE_MISSING"
  /** The SQLite store is at an older schema version: a server started on it upgrades it. */
  | "SOURCE_SCHEMA_OLD"
  /** The SQLite store was made by a newer Tessera. */
  | "SOURCE_SCHEMA_NEWER"
  /** The SQLite store holds a table this Tessera would not copy. */
  | "SOURCE_UNKNOWN_TABLE"
  /** PostgreSQL could not be reached (or refused the login). */
  | "TARGET_UNREACHABLE"
  /** The PostgreSQL database has migrations this Tessera does not know. */
  | "TARGET_SCHEMA_NEWER"
  /** A table's columns differ between the two schemas. */
  | "TARGET_SCHEMA_MISMATCH"
  /** The PostgreSQL database already holds Tessera data. */
  | "TARGET_NOT_EMPTY"
  /** PostgreSQL refused a row: nothing was committed. */
  | "COPY_FAILED"
  /** A table's row count differs after the copy: nothing was committed. */
  | "COUNT_MISMATCH";

export class MigrateStoreError extends Error {
  override readonly name = "MigrateStoreError";
  constructor(
    readonly problem: MigrateStoreProblem,
    message: string,
  ) {
    super(message);
  }
}
