import type { Command } from "commander";
import { wantsJson } from "../common.js";
import { emit } from "../output.js";
import { topLevel } from "../registry.js";

export function registerInit(program: Command): void {
  topLevel(program, "init")
    .option("--data-dir <dir>", "where the SQLite database lives (TESSERA_DATA_DIR, default ./data)")
    .option("--name <name>", "the org's name", "default")
    .action(async (o: { dataDir?: string; name: string }, cmd: Command) => {
      // The store and the server's config load only when init runs, not when the CLI starts.
      const [{ loadConfig }, { createOrg }, { openStore }] = await Promise.all([
        import("../../config/config.js"),
        import("../../core/bootstrap.js"),
        import("../../store/store.js"),
      ]);
      const config = loadConfig({ dataDir: o.dataDir });
      const store = openStore(config.dataDir);
      try {
        const org = await createOrg(store, o.name, new Date());
        emit(wantsJson(cmd), org, () =>
          [
            `Created org ${org.orgId} in ${config.dataDir}. These credentials are shown once; store them now:`,
            `  export TESSERA_API_KEY=${org.apiKey}`,
            `  export TESSERA_ADMIN_TOKEN=${org.adminToken}`,
          ].join("\n"),
        );
      } finally {
        store.close();
      }
    });
}
