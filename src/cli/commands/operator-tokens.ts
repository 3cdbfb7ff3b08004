import type { Command } from "commander";
import type { Store } from "../../store/store.js";
import { wantsJson } from "../common.js";
import { emit, UsageError } from "../output.js";

/** Runs `fn` on the store in the data directory (`--data-dir`, TESSERA_DATA_DIR, default ./data). */
async function onDataDir<T>(dataDir: string | undefined, fn: (store: Store, dir: string) => T): Promise<T> {
  // The store and the server's config are loaded only by the commands that open a data directory.
  const [{ loadConfig }, { openStore }] = await Promise.all([
    import("../../config/config.js"),
    import("../../store/store.js"),
  ]);
  const config = loadConfig({ dataDir });
  const store = openStore(config.dataDir);
  try {
    return fn(store, config.dataDir);
  } finally {
    store.close();
  }
}

const DATA_DIR = [
  "--data-dir <dir>",
  "where the SQLite database lives (TESSERA_DATA_DIR, default ./data)",
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
    .option("--name <name>", "what the token is for", "operator")
    .action(async (o: { dataDir?: string; name: string }, cmd: Command) => {
      const { issueOperatorToken } = await import("../../core/system.js");
      const issued = await onDataDir(o.dataDir, (store) =>
        issueOperatorToken(store.operators, o.name, new Date()),
      );
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
    .action(async (o: { dataDir?: string }, cmd: Command) => {
      const rows = await onDataDir(o.dataDir, (store) => store.operators.tokens());
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
    .action(async (id: string, o: { dataDir?: string }, cmd: Command) => {
      const revoked = await onDataDir(o.dataDir, (store) =>
        store.operators.revokeToken(id, Math.floor(Date.now() / 1000)),
      );
      if (!revoked) throw new UsageError(`no live operator token ${id}`);
      emit(wantsJson(cmd), { revoked: id }, () => `revoked ${id}`);
    });
}
