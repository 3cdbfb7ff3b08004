import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { defaultClientConfigPath, loadClientConfig } from "../../src/config/client-config.js";
import { ConfigError } from "../../src/config/config.js";
import { tempDir } from "../helpers/server.js";

const tmp = tempDir("tessera-client-config-");
afterAll(() => tmp.cleanup());

/** A HOME whose ~/.tessera/config holds `yaml` (no file when undefined). */
function home(name: string, yaml?: string): NodeJS.ProcessEnv {
  const env = { HOME: join(tmp.dir, name), TESSERA_DATA_DIR: join(tmp.dir, name, "no-data") };
  if (yaml !== undefined) {
    mkdirSync(join(env.HOME, ".tessera"), { recursive: true });
    writeFileSync(defaultClientConfigPath(env), yaml);
  }
  return env;
}

function refusal(env: NodeJS.ProcessEnv): string {
  try {
    loadClientConfig({}, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("~/.tessera/config (issue #10: strict CLI config file)", () => {
  it("reads every known key", () => {
    const env = home("all", "server: tessera:50051\napiKey: k\nadminToken: t\ntlsCa: ca.pem\n");
    expect(loadClientConfig({}, env)).toMatchObject({
      server: "https://tessera:50051",
      apiKey: "k",
      adminToken: "t",
      tlsCa: "ca.pem",
    });
  });

  it.each([
    ["api_key: k\n", "api_key", "apiKey"],
    ["admin-token: t\n", "admin-token", "adminToken"],
    ["TESSERA_SERVER: x\n", "TESSERA_SERVER", "server"],
    ["client-cert: c.pem\n", "client-cert", "tlsCert"],
    ["sever: x\n", "sever", "server"],
  ])("refuses %j, naming the key and the one it likely meant", (yaml, key, meant) => {
    const message = refusal(home(`typo-${key}`, yaml));
    expect(message).toContain(`"${key}"`);
    expect(message).toContain(`did you mean "${meant}"?`);
  });

  it("refuses text that is not YAML without quoting it (it may hold a credential)", () => {
    const message = refusal(home("broken", 'apiKey: "tsk_secret-looking-value\n'));
    expect(message).toMatch(/not valid YAML/);
    expect(message).not.toContain("tsk_secret");
  });

  it("refuses a list or mapping as a value, and a file that is not a mapping", () => {
    expect(refusal(home("list", "server: [a, b]\n"))).toMatch(/^server in .* single value/);
    expect(refusal(home("scalar", "just text\n"))).toMatch(/mapping/);
  });

  it("takes flags over variables over the file", () => {
    const env = {
      ...home("layers", "server: file:1\napiKey: file\nadminToken: file\n"),
      TESSERA_API_KEY: "env",
    };
    expect(loadClientConfig({ adminToken: "flag" }, env)).toMatchObject({
      server: "http://file:1",
      apiKey: "env",
      adminToken: "flag",
    });
  });

  it("works without a file", () => {
    expect(loadClientConfig({}, home("none")).server).toBe("http://127.0.0.1:50051");
  });
});
