import type { Command } from "commander";
import type { TesseraStore } from "../../store/contract/store.js";
import { wantsJson } from "../common.js";
import { emit, UsageError } from "../output.js";

/**
 * Runs `fn` on the server's store: the SQLite database in the data directory (`--data-dir`,
 * TESSERA_DATA_DIR, default ./data), or the PostgreSQL database the replicas share
 * (`--database`, TESSERA_DATABASE_URL).
 */
async function onDataDir<T>(
  o: { dataDir?: string | undefined; database?: string | undefined },
  fn: (store: TesseraStore) => T | Promise<T>,
): Promise<T> {
  // The store and the server's config are loaded only by the commands that open a store.
  const [{ loadConfig }, { openTesseraStore }] = await Promise.all([
    import("../../config/config.js"),
    import("../../store/open.js"),
  ]);
  const config = loadConfig({ dataDir: o.dataDir, database: o.database });
  const store = await openTesseraStore(config);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

const DATA_DIR = [
  "--data-dir <dir>",
  "where the SQLite database lives (TESSERA_DATA_DIR, default ./data)",
] as const;
const DATABASE = [
  "--database <url>",
  "the PostgreSQL database the replicas share, instead of --data-dir (TESSERA_DATABASE_URL)",
] as const;

/** `operator token create|list|revoke`: on the data directory itself, never over the network. */
export function registerTokens(operator: Command): void {
  const token = operator
    .command("token")
    .description(
      "operator tokens, made on the server's data directory (whoever can read it is the operator)",
    );
  token
    .command("create")
    .description("create an operator token; printed this once")
    .option(...DATA_DIR)
    .option(...DATABASE)
    .option("--name <name>", "what the token is for", "operator")
    .action(async (o: { dataDir?: string; database?: string; name: string }, cmd: Command) => {
      const { issueOperatorToken } = await import("../../core/system.js");
      const issued = await onDataDir(o, (store) => issueOperatorToken(store.operators, o.name, new Date()));
      emit(wantsJson(cmd), { id: issued.row.id, name: issued.row.name, operatorToken: issued.token }, () =>
        [
          `Operator token ${issued.row.id} (shown once; it is not an org credential):`,
          `  export TESSERA_OPERATOR_TOKEN=${issued.token}`,
        ].join("\n"),
      );
    });
  token
    .command("list")
    .description("list the operator tokens (ids, names and prefixes; never the tokens)")
    .option(...DATA_DIR)
    .option(...DATABASE)
    .action(async (o: { dataDir?: string; database?: string }, cmd: Command) => {
      const rows = await onDataDir(o, (store) => store.operators.tokens());
      const out = rows.map((r) => ({
        id: r.id,
        name: r.name,
        prefix: r.prefix,
        createdAt: new Date(r.createdAt * 1000).toISOString(),
        revokedAt: r.revokedAt === undefined ? undefined : new Date(r.revokedAt * 1000).toISOString(),
      }));
      emit(
        wantsJson(cmd),
        { tokens: out },
        () =>
          out.map((t) => `${t.id}  ${t.prefix}…  ${t.name}${t.revokedAt ? "  revoked" : ""}`).join("\n") ||
          "(no operator tokens)",
      );
    });
  token
    .command("revoke <id>")
    .description("revoke an operator token: it stops working at once")
    .option(...DATA_DIR)
    .option(...DATABASE)
    .action(async (id: string, o: { dataDir?: string; database?: string }, cmd: Command) => {
      const revoked = await onDataDir(o, (store) =>
        store.operators.revokeToken(id, Math.floor(Date.now() / 1000)),
      );
      if (!revoked) throw new UsageError(`no live operator token ${id}`);
      emit(wantsJson(cmd), { revoked: id }, () => `revoked ${id}`);
    });
}
