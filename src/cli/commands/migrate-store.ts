import type { Command } from "commander";
import type { MigrateStoreReport } from "../../store/migrate-store.js";
import { wantsJson } from "../common.js";
import { CliError, EXIT, emit, UsageError } from "../output.js";
import { topLevel } from "../registry.js";

/** The gRPC-style code each refusal is reported with. */
const CODES: Record<string, string> = {
  SOURCE_MISSING: "NotFound",
  SOURCE_SCHEMA_OLD: "FailedPrecondition",
  SOURCE_SCHEMA_NEWER: "FailedPrecondition",
  SOURCE_UNKNOWN_TABLE: "FailedPrecondition",
  TARGET_UNREACHABLE: "Unavailable",
  TARGET_SCHEMA_NEWER: "FailedPrecondition",
  TARGET_SCHEMA_MISMATCH: "FailedPrecondition",
  TARGET_NOT_EMPTY: "FailedPrecondition",
  COPY_FAILED: "Aborted",
  COUNT_MISMATCH: "Aborted",
};

/** A refusal from the store's migrate-store module (a MigrateStoreError, checked by name) as the CLI's error. */
function described(err: unknown): unknown {
  if (!(err instanceof Error) || err.name !== "MigrateStoreError") return err;
  const problem = String((err as { problem?: unknown }).problem);
  return new CliError(
    { code: CODES[problem] ?? "FailedPrecondition", reason: problem, message: err.message },
    EXIT.failed,
  );
}

/** `sqlite:DIR`, `sqlite://DIR` or a bare DIR (or the database file in it): the path. */
export function sqliteSource(from: string): string {
  const m = /^sqlite:(?:\/\/)?(.*)$/i.exec(from);
  if (m) {
    if (!m[1]) throw new UsageError("--from sqlite: needs the data directory after it, as in sqlite:./data");
    return m[1];
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(from))
    throw new UsageError("--from is the SQLite store: sqlite:DIR or a data directory's path");
  return from;
}

/** The PostgreSQL URL from --to or TESSERA_DATABASE_URL; never echoed (it may hold a password). */
async function targetUrl(to: string | undefined): Promise<string> {
  const { databaseUrlFromEnv, isPostgresUrl } = await import("../../config/database-url.js");
  const url = to ?? databaseUrlFromEnv();
  if (!url) throw new UsageError("name the PostgreSQL database: --to postgres://… or TESSERA_DATABASE_URL");
  if (!isPostgresUrl(url))
    throw new UsageError(
      `${to ? "--to" : "TESSERA_DATABASE_URL"} must be a postgres:// or postgresql:// URL`,
    );
  return url;
}

function positive(flag: string) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > 100_000)
      throw new UsageError(`${flag} must be a whole number from 1 to 100000, got ${raw}`);
    return n;
  };
}

/** The report for people: what went where, and a table of the rows on each side. */
function reportText(r: MigrateStoreReport): string {
  const width = Math.max(5, ...r.tables.map((t) => t.table.length));
  const num = (n: number | string) => String(n).padStart(9);
  const rows = r.tables.map((t) => `${t.table.padEnd(width)} ${num(t.sqlite)} ${num(t.postgres)}`);
  return [
    `Copied ${r.from} (SQLite schema ${r.sqliteSchemaVersion}) into ${r.to} (PostgreSQL schema ${r.postgresSchemaVersion}): ${r.rows} rows in ${r.tables.length} tables, in ${r.durationMs} ms.`,
    "",
    `${"table".padEnd(width)} ${num("sqlite")} ${num("postgres")}`,
    ...rows,
    "",
    "Signing keys were copied as stored: run every server on PostgreSQL with the master key",
    "(TESSERA_MASTER_KEY) the SQLite server ran with. The SQLite store was not changed.",
  ].join("\n");
}

interface Flags {
  readonly from: string;
  readonly to?: string;
  readonly batchRows?: number;
}

async function runMigrateStore(o: Flags, cmd: Command): Promise<void> {
  const json = wantsJson(cmd);
  const from = sqliteSource(o.from);
  const to = await targetUrl(o.to);
  const { migrateStore } = await import("../../store/migrate-store.js");
  const tty = !json && process.stderr.isTTY;
  const report = await migrateStore(from, to, {
    batchRows: o.batchRows,
    onProgress: (p) => {
      if (tty) process.stderr.write(`\r\x1b[K${p.table}: ${p.copied} of ${p.of} rows`);
    },
  }).catch((err: unknown) => Promise.reject(described(err)));
  if (tty) process.stderr.write("\r\x1b[K");
  emit(json, report, () => reportText(report));
}

export function registerMigrateStore(program: Command): void {
  topLevel(program, "migrate-store")
    .requiredOption("--from <store>", "the SQLite store: sqlite:DIR or DIR, the server's data directory")
    .option(
      "--to <url>",
      "the PostgreSQL database, postgres://USER:PASSWORD@HOST:PORT/DB, new or without Tessera data (TESSERA_DATABASE_URL)",
    )
    .option("--batch-rows <n>", "rows per INSERT at most (default 500)", positive("--batch-rows"))
    .addHelpText(
      "after",
      [
        "",
        "Copies everything the SQLite store holds (orgs, credentials, agents and their keys, policies",
        "and their history, signing keys, users and sessions, service identities, operator tokens, org",
        "trust, the admin audit trail, the change log and the decision log) into PostgreSQL, in one",
        "transaction: all of it or nothing. Stop the server first: writes made after the copy starts",
        "are not in it. The SQLite store is opened read-only and never changed. It must be at this",
        "Tessera's schema version (start the server on it once to upgrade it). The target is migrated",
        "first, and refused when it already holds Tessera data. Each table's rows are counted on both",
        "sides; a difference is an error and nothing is committed. Signing keys are copied as stored,",
        "encrypted under the master key: run the PostgreSQL servers with the same TESSERA_MASTER_KEY.",
        "",
        "Example: tessera migrate-store --from sqlite:./data --to postgres://tessera@db.internal/tessera",
      ].join("\n"),
    )
    .action(runMigrateStore);
}
