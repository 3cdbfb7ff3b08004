import type { Command } from "commander";
import type { SigningKeyRow } from "../../store/signing-keys.js";
import { wantsJson } from "../common.js";
import { CliError, EXIT, emit, UsageError } from "../output.js";
import { topLevel } from "../registry.js";

const DATA_DIR_DOC = "the server's data directory (TESSERA_DATA_DIR, dataDir in --config, default ./data)";
const CONFIG_DOC = "the server's config file, for its dataDir and masterKey (TESSERA_CONFIG)";

/** The gRPC-style code each refusal is reported with (exit 2 for InvalidArgument, else 1). */
const CODES: Record<string, string> = {
  BACKUP_SOURCE_MISSING: "NotFound",
  BACKUP_TARGET_EXISTS: "AlreadyExists",
  BACKUP_TARGET_INVALID: "InvalidArgument",
  BACKUP_NOT_FOUND: "NotFound",
  NOT_A_BACKUP: "InvalidArgument",
  BACKUP_CORRUPT: "DataLoss",
  BACKUP_SCHEMA_NEWER: "FailedPrecondition",
  RESTORE_TARGET_NOT_EMPTY: "FailedPrecondition",
};

/** A refusal from the store's backup module (a BackupError, checked by name) as the CLI's error. */
function described(err: unknown): unknown {
  if (!(err instanceof Error) || err.name !== "BackupError") return err;
  const problem = String((err as { problem?: unknown }).problem);
  const code = CODES[problem] ?? "FailedPrecondition";
  return new CliError(
    { code, reason: problem, message: err.message },
    code === "InvalidArgument" ? EXIT.usage : EXIT.failed,
  );
}

/** The data directory (and master key) the server would run with, from the flags, TESSERA_* and --config. */
async function serverSettings(o: { dataDir?: string | undefined; config?: string | undefined }) {
  const { loadConfig } = await import("../../config/config.js");
  const config = loadConfig({ dataDir: o.dataDir, config: o.config });
  // These copy the embedded SQLite file; a shared PostgreSQL database has its own tools.
  if (config.database)
    throw new CliError(
      {
        code: "FailedPrecondition",
        reason: "BACKUP_POSTGRES",
        message:
          "the store is a PostgreSQL database (--database / TESSERA_DATABASE_URL): back it up with pg_dump and restore with pg_restore",
      },
      EXIT.failed,
    );
  return config;
}

function pages(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000)
    throw new UsageError(`--pages-per-step must be a whole number from 1 to 1000000, got ${raw}`);
  return n;
}

/** Sealed and clear signing keys among the stored ones (retired keys hold no private half). */
async function keyCounts(keys: readonly SigningKeyRow[]) {
  const { isSealed } = await import("../../auth/master-key.js");
  const live = keys.filter((k) => k.state !== "retired");
  return {
    sealed: live.filter((k) => isSealed(k.privateJwk)).length,
    clear: live.filter((k) => !isSealed(k.privateJwk)).length,
  };
}

/** What the operator must know about the backup's signing keys. */
function keyAdvice(keys: { sealed: number; clear: number }): string[] {
  if (keys.clear > 0)
    return [
      "Its signing keys are in clear (no master key was configured): guard the file like the data directory.",
    ];
  if (keys.sealed > 0)
    return [
      "The master key is not in the backup: keep it (TESSERA_MASTER_KEY) safe, apart from the file; restoring needs it.",
    ];
  return [];
}

interface BackupFlags {
  readonly to: string;
  readonly dataDir?: string;
  readonly config?: string;
  readonly force?: boolean;
  readonly pagesPerStep?: number;
}

/** `tessera backup`: copies the store, reporting progress on a terminal. */
async function runBackup(o: BackupFlags, cmd: Command): Promise<void> {
  const json = wantsJson(cmd);
  const config = await serverSettings(o);
  const { backupStore } = await import("../../store/backup.js");
  const started = Date.now();
  const tty = !json && process.stderr.isTTY;
  const result = await backupStore(config.dataDir, o.to, {
    overwrite: o.force,
    pagesPerStep: o.pagesPerStep,
    onProgress: (p) => {
      if (tty) process.stderr.write(`\rcopied ${p.totalPages - p.remainingPages} of ${p.totalPages} pages`);
    },
  }).catch((err: unknown) => Promise.reject(described(err)));
  if (tty) process.stderr.write("\n");
  const signingKeys = await keyCounts(result.signingKeys);
  const out = {
    file: result.file,
    dataDir: config.dataDir,
    bytes: result.bytes,
    pages: result.pages,
    steps: result.steps,
    schemaVersion: result.schemaVersion,
    durationMs: Date.now() - started,
    signingKeys,
    masterKeyIncluded: false,
  };
  emit(json, out, () =>
    [
      `Backed up ${config.dataDir} to ${result.file}: ${result.bytes} bytes, schema version ${result.schemaVersion}, in ${out.durationMs} ms.`,
      ...keyAdvice(signingKeys),
    ].join("\n"),
  );
}

export function registerBackup(program: Command): void {
  topLevel(program, "backup")
    .requiredOption("--to <file>", "the backup file to write (refused when it exists, unless --force)")
    .option("--data-dir <dir>", DATA_DIR_DOC)
    .option("--config <file>", CONFIG_DOC)
    .option("--force", "replace --to when it exists")
    .option("--pages-per-step <n>", "database pages copied between progress reports (default 1000)", pages)
    .addHelpText(
      "after",
      [
        "",
        "Runs beside a live server: the copy is one consistent snapshot of the store (agents, policies,",
        "credentials, signing keys, the decision log) and blocks none of the server's writes. The master",
        "key is NOT in the backup: signing keys stay encrypted under it, so keep the master key, apart",
        "from the backup, to restore with. Restore with `tessera restore --from FILE`.",
      ].join("\n"),
    )
    .action(runBackup);
}

/** Checks the master key the restored server will run with opens every signing key it will load. */
async function checkMasterKey(keys: readonly SigningKeyRow[], masterKey: Buffer | undefined): Promise<void> {
  const { MasterKeyError, openSigningKey } = await import("../../auth/master-key.js");
  for (const row of keys) {
    // The server loads neither half of a retired key's private part: it only publishes it.
    if (row.state === "retired") continue;
    try {
      await openSigningKey(row, JSON.parse(row.publicJwk), masterKey);
    } catch (err) {
      if (!(err instanceof MasterKeyError)) throw err;
      const advice =
        err.problem === "MASTER_KEY_MISSING"
          ? "set TESSERA_MASTER_KEY (or masterKey in --config) to the master key the backed-up server ran with"
          : "the configured master key is not the one the backed-up server ran with";
      throw new CliError(
        {
          code: "FailedPrecondition",
          reason: err.problem,
          message: `${err.message}; ${advice}; nothing was restored`,
        },
        EXIT.failed,
      );
    }
  }
}

export function registerRestore(program: Command): void {
  topLevel(program, "restore")
    .requiredOption("--from <file>", "the backup file (made by `tessera backup`)")
    .option(
      "--data-dir <dir>",
      "the NEW data directory to restore into: absent or empty (TESSERA_DATA_DIR, dataDir in --config, default ./data)",
    )
    .option("--config <file>", CONFIG_DOC)
    .addHelpText(
      "after",
      [
        "",
        "Checks everything before writing anything: the data directory must not exist or be empty; the",
        "file must be an intact Tessera backup of a schema version this Tessera knows; and the master",
        "key the server will run with (TESSERA_MASTER_KEY, or masterKey in --config) must open the",
        "backup's signing keys. Then start `tessera serve` on the data directory.",
      ].join("\n"),
    )
    .action(async (o: { from: string; dataDir?: string; config?: string }, cmd: Command) => {
      const config = await serverSettings(o);
      const { restoreStore } = await import("../../store/restore.js");
      const result = await restoreStore(o.from, config.dataDir, (info) =>
        checkMasterKey(info.signingKeys, config.masterKey),
      ).catch((err: unknown) => Promise.reject(described(err)));
      const out = { ...result, from: o.from, masterKeyConfigured: Boolean(config.masterKey) };
      emit(wantsJson(cmd), out, () =>
        [
          `Restored ${o.from} into ${result.dataDir} (schema version ${result.schemaVersion}${result.storeVersion !== result.schemaVersion ? `, migrated to ${result.storeVersion}` : ""}).`,
          `Start the server on it: tessera serve --data-dir ${result.dataDir}`,
        ].join("\n"),
      );
    });
}
