import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadClientConfig } from "../../src/config/client-config.js";
import { tempDir } from "../helpers/server.js";

describe("the CLI's session token against the API key and admin token", () => {
  const home = tempDir("tessera-client-token-");
  afterAll(() => home.cleanup());
  const keys = { TESSERA_API_KEY: "tsk_env", TESSERA_ADMIN_TOKEN: "tat_env" };
  const env = (extra: Record<string, string> = {}) => ({
    HOME: home.dir,
    TESSERA_DATA_DIR: home.dir,
    ...extra,
  });

  it("reads the token from TESSERA_TOKEN, and --token beats exported keys", () => {
    expect(loadClientConfig({}, env({ TESSERA_TOKEN: "t_env" })).token).toBe("t_env");
    const c = loadClientConfig({ token: "t_flag" }, env(keys));
    expect(c).toMatchObject({ token: "t_flag", apiKey: undefined, adminToken: undefined });
  });

  it("lets --api-key beat an exported token, and a token beat keys from the same place", () => {
    const c = loadClientConfig(
      { apiKey: "tsk_flag" },
      env({ TESSERA_TOKEN: "t_env", TESSERA_ADMIN_TOKEN: "tat" }),
    );
    expect(c).toMatchObject({ apiKey: "tsk_flag", adminToken: "tat", token: undefined });
    expect(loadClientConfig({}, env({ ...keys, TESSERA_TOKEN: "t_env" }))).toMatchObject({
      token: "t_env",
      apiKey: undefined,
    });
  });

  it("reads `token` from the config file, below the environment", () => {
    mkdirSync(join(home.dir, ".tessera"), { recursive: true });
    writeFileSync(join(home.dir, ".tessera", "config"), "token: t_file\n");
    expect(loadClientConfig({}, env()).token).toBe("t_file");
    expect(loadClientConfig({}, env(keys))).toMatchObject({ token: undefined, apiKey: "tsk_env" });
  });
});
