import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ConfigInput, loadConfig } from "../../src/config/config.js";
import type { NewOrg } from "../../src/core/bootstrap.js";
import { issueOperatorToken } from "../../src/core/system.js";
import { type RunningTessera, startTessera } from "../../src/main.js";
import { openStore } from "../../src/store/store.js";

/** A fresh temporary data directory; removed by the returned cleanup. */
export function tempDir(prefix = "tessera-test-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface TestServer extends RunningTessera {
  readonly dataDir: string;
  /** The development org created on first start (with the example policy). */
  readonly org: NewOrg;
  /** Stops the server and deletes its data directory (unless keepData). */
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

/** Starts a real server on free ports over a temp (or given) data directory. */
export async function startTestServer(overrides: ConfigInput = {}, dataDir?: string): Promise<TestServer> {
  const tmp = dataDir ? { dir: dataDir, cleanup: () => {} } : tempDir();
  const config = loadConfig({ dataDir: tmp.dir, grpcPort: 0, httpPort: 0, ...overrides }, {});
  // Any password hash will do here (test/unit/passwords.test.ts covers the default cost, which
  // takes seconds on a loaded machine). main hands the config on as the core's settings.
  const settings = { ...config, passwordHashCost: { N: 1024, r: 8, p: 1 } };
  const running = await startTessera(settings);
  const org = running.devOrg ?? { orgId: "", apiKey: "", adminToken: "" };
  return {
    ...running,
    dataDir: tmp.dir,
    org,
    async stop(opts = {}) {
      await running.close();
      if (!opts.keepData) tmp.cleanup();
    },
  };
}

/**
 * A new operator token made on the data directory, as `tessera operator token create` makes
 * one (a second connection to the server's WAL database is fine).
 */
export async function createOperatorToken(dataDir: string): Promise<string> {
  const store = openStore(dataDir);
  try {
    return (await issueOperatorToken(store.operators, "test", new Date())).token;
  } finally {
    await store.close();
  }
}
