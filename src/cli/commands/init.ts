import type { Command } from "commander";
import { loadConfig } from "../../config/config.js";
import { createOrg } from "../../core/bootstrap.js";
import { openStore } from "../../store/store.js";
import { wantsJson } from "../common.js";
import { emit } from "../output.js";

export function registerInit(program: Command): void {
  program
    .command("init")
    .description("create the database (if needed) and a new org; prints its API key and admin token once")
    .option("--data-dir <dir>", "where the SQLite database lives (TESSERA_DATA_DIR, default ./data)")
    .option("--name <name>", "the org's name", "default")
    .action((o: { dataDir?: string; name: string }, cmd: Command) => {
      const config = loadConfig({ dataDir: o.dataDir });
      const store = openStore(config.dataDir);
      try {
        const org = createOrg(store, o.name, new Date());
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
