import type { Command } from "commander";
import { wantsJson } from "../common.js";
import { emit } from "../output.js";
import { topLevel } from "../registry.js";

export function registerInit(program: Command): void {
  topLevel(program, "init")
    .option("--data-dir <dir>", "where the SQLite database lives (TESSERA_DATA_DIR, default ./data)")
    .option(
      "--database <url>",
      "the PostgreSQL database the replicas share, instead of --data-dir (TESSERA_DATABASE_URL)",
    )
    .option("--name <name>", "the org's name", "default")
    .action(async (o: { dataDir?: string; database?: string; name: string }, cmd: Command) => {
      // The store and the server's config load only when init runs, not when the CLI starts.
      const [{ loadConfig }, { createOrg }, { openTesseraStore }] = await Promise.all([
        import("../../config/config.js"),
        import("../../core/bootstrap.js"),
        import("../../store/open.js"),
      ]);
      const config = loadConfig({ dataDir: o.dataDir, database: o.database });
      const store = await openTesseraStore(config);
      try {
        const org = await createOrg(store, o.name, new Date());
        emit(wantsJson(cmd), org, () =>
          [
            `Created org ${org.orgId} in ${config.database ? "the PostgreSQL database" : config.dataDir}. These credentials are shown once; store them now:`,
            `  export TESSERA_API_KEY=${org.apiKey}`,
            `  export TESSERA_ADMIN_TOKEN=${org.adminToken}`,
          ].join("\n"),
        );
      } finally {
        await store.close();
      }
    });
}
