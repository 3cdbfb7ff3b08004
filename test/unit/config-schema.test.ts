import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import { addSettingFlags } from "../../src/cli/commands/serve-options.js";
import { buildProgram } from "../../src/cli/program.js";
import { registerAll } from "../../src/cli/registry.js";
import { CLIENT_SCHEMA } from "../../src/config/client-config.js";
import { ConfigError, loadConfig } from "../../src/config/config.js";
import { renderConfigDoc } from "../../src/config/config-doc.js";
import { formatDuration, parseDuration } from "../../src/config/duration.js";
import { defaultText, SCHEMA, SETTING_KEYS, type Setting } from "../../src/config/schema.js";
import { closestKey } from "../../src/config/suggest.js";
import { tempDir } from "../helpers/server.js";

const tmp = tempDir("tessera-schema-");
afterAll(() => tmp.cleanup());

function configFile(name: string, yaml: string): string {
  const path = join(tmp.dir, name);
  writeFileSync(path, yaml);
  return path;
}

/** The ConfigError loadConfig throws (the test fails when it throws none). */
function refusal(flags: Record<string, string | number | boolean>, env: Record<string, string> = {}): string {
  try {
    loadConfig(flags, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
}

/** The whole program, every command registered (the CLI itself loads only the one it runs). */
async function fullProgram(): Promise<Command> {
  const program = buildProgram();
  await registerAll(program);
  return program;
}

const settings = SETTING_KEYS.map((k) => [k, SCHEMA[k] as Setting<unknown, unknown>] as const);

describe("the configuration schema (issue #10: one table)", () => {
  it.each(settings)("%s has a flag, a variable, a default and a one-line doc", (key, s) => {
    expect(s.flag).toMatch(/^--[a-z][a-z0-9-]*$/);
    expect(s.env).toMatch(/^TESSERA_[A-Z0-9_]+$/);
    // One name, two spellings: the flag is the variable without its prefix. The one exception
    // is the conventional pair --database / TESSERA_DATABASE_URL (issue #14 names both).
    const spelled = s.env.slice("TESSERA_".length).toLowerCase().replace(/_/g, "-");
    expect(s.flag.slice(2)).toBe(key === "database" ? spelled.replace(/-url$/, "") : spelled);
    expect(s.doc.length).toBeGreaterThan(10);
    expect(s.doc).not.toMatch(/\n/);
    expect("default" in s).toBe(true);
    expect(defaultText(key).length).toBeGreaterThan(0);
  });

  it("gives every flag and variable to one setting only", () => {
    const flags = settings.map(([, s]) => s.flag);
    const envs = settings.map(([, s]) => s.env);
    expect(new Set(flags).size).toBe(flags.length);
    expect(new Set(envs).size).toBe(envs.length);
  });

  it.each(settings.filter(([, s]) => s.default !== undefined))(
    "%s: its default, shown as the docs show it, reads back as itself",
    (_key, s) => {
      expect(s.type.parse(s.type.show(s.default))).toEqual(s.default);
    },
  );

  it("lists every setting as a `serve` flag whose help names its variable and default", async () => {
    const serve = (await fullProgram()).commands.find((c) => c.name() === "serve");
    const help = serve?.helpInformation() ?? "";
    const flags = new Set(serve?.options.map((o) => o.long));
    for (const [key, s] of settings) {
      expect(flags.has(s.flag), s.flag).toBe(true);
      const line = help.split("\n").find((l) => l.trimStart().startsWith(`${s.flag} `)) ?? "";
      expect(line, s.flag).toContain(s.env);
      expect(line, s.flag).toContain(`default ${defaultText(key)}`);
    }
  });

  it("lists every CLI setting as a global flag of the program", async () => {
    const flags = new Set(buildProgram().options.map((o) => o.long));
    for (const s of Object.values(CLIENT_SCHEMA)) expect(flags.has(s.flag), s.flag).toBe(true);
  });

  it("docs/config.md is what `npm run docs:config` generates from the schema", () => {
    const doc = readFileSync(new URL("../../docs/config.md", import.meta.url), "utf8");
    expect(doc, "docs/config.md is stale: run npm run docs:config").toBe(renderConfigDoc());
    for (const [key, s] of settings) {
      expect(doc).toContain(s.flag);
      expect(doc).toContain(s.env);
      if (s.inFile !== false) expect(doc).toContain(`\`${key}\``);
    }
  });

  it.each([
    [0, "0"],
    [90, "1m30s"],
    [900, "15m"],
    [5400, "1h30m"],
    [86400 * 7, "7d"],
    [93784, "1d2h3m4s"],
  ])("formatDuration(%d) is %j, and reads back", (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
    expect(parseDuration(text)).toBe(seconds);
  });
});

describe("the config file is strict", () => {
  it.each([
    ["grpc_port: 1\n", "grpc_port", "grpcPort"],
    ["GRPC_PORT: 1\n", "GRPC_PORT", "grpcPort"],
    ["grpc-port: 1\n", "grpc-port", "grpcPort"],
    ["grpcPrt: 1\n", "grpcPrt", "grpcPort"],
    ["maxTokenTtl: 1h\n", "maxTokenTtl", "maxTokenTtlSeconds"],
    ["max_token_ttl: 1h\n", "max_token_ttl", "maxTokenTtlSeconds"],
    ["decision_log: false\n", "decision_log", "decisionLog"],
  ])("refuses %j, naming the key and the one it likely meant", (yaml, key, meant) => {
    const message = refusal({ config: configFile("typo.yaml", yaml) });
    expect(message).toContain(`"${key}"`);
    expect(message).toContain(`did you mean "${meant}"?`);
  });

  it("refuses a key that resembles nothing, and names every unknown key at once", () => {
    expect(refusal({ config: configFile("far.yaml", "colour: blue\n") })).not.toContain("did you mean");
    const both = refusal({ config: configFile("two.yaml", "grpc_port: 1\nhttp_port: 2\n") });
    expect(both).toMatch(/"grpc_port".*"grpcPort".*"http_port".*"httpPort"/);
  });

  it("refuses `config` inside a config file, and a list or mapping as a value", () => {
    expect(refusal({ config: configFile("nested.yaml", "config: other.yaml\n") })).toContain('"config"');
    expect(refusal({ config: configFile("list.yaml", "host: [a, b]\n") })).toMatch(
      /^host in .* single value/,
    );
  });

  it("takes `key:` with no value as unset", () => {
    expect(loadConfig({ config: configFile("null.yaml", "grpcPort:\n") }, {}).grpcPort).toBe(50051);
  });

  it.each<[string, string | undefined]>([
    ["abc", undefined],
    ["grpcport", "grpcPort"],
    ["GRPC-PORT", "grpcPort"],
    ["workrs", "workers"],
    ["logformat", "logFormat"],
  ])("closestKey(%j) is %j", (typed, meant) => {
    const aliases = { grpcPort: ["--grpc-port"], workers: [], logFormat: [] };
    expect(closestKey(typed, aliases)).toBe(meant);
  });
});

describe("refusals name where the value came from, and never echo a secret", () => {
  it("names the flag, the variable or the file key", () => {
    expect(refusal({ grpcPort: "99999" })).toMatch(/^--grpc-port must be a port number.*99999/);
    expect(refusal({}, { TESSERA_GRPC_PORT: "x" })).toMatch(/^TESSERA_GRPC_PORT must be/);
    const file = configFile("bad-port.yaml", "grpcPort: 99999\n");
    expect(refusal({ config: file })).toBe(`grpcPort in ${file} must be a port number (0-65535), got 99999`);
  });

  it("does not echo a bad master key, wherever it came from", () => {
    const secret = "c2VjcmV0LXRoYXQtaXMtbm90LTMyLWJ5dGVz";
    for (const message of [
      refusal({ masterKey: secret }),
      refusal({}, { TESSERA_MASTER_KEY: secret }),
      refusal({ config: configFile("key.yaml", `masterKey: ${secret}\n`) }),
      refusal({ config: configFile("broken.yaml", `grpcPort: 1\nmasterKey: "${secret}\n`) }),
    ]) {
      expect(message).toMatch(/masterKey|MASTER_KEY|--master-key|not valid YAML/);
      expect(message).not.toContain(secret);
    }
  });

  it("does not show the master key in `serve --help` or the docs", () => {
    const key = Buffer.alloc(32, 7).toString("base64");
    const config = loadConfig({ masterKey: key }, {});
    expect(config.masterKey?.length).toBe(32);
    expect(renderConfigDoc()).not.toContain(key);
  });
});

describe("flags over variables over the file, through `serve`'s own flag parsing", () => {
  const file = configFile(
    "layers.yaml",
    "grpcPort: 1001\nhttpPort: 1002\nissuer: file\naudience: file\ndecisionLog: true\nworkers: 3\n",
  );
  const env = {
    TESSERA_GRPC_PORT: "2001",
    TESSERA_ISSUER: "env",
    TESSERA_DECISION_LOG: "true",
    TESSERA_WORKERS: "4",
  };

  function parseServe(args: string[]) {
    const cmd = new Command("serve").exitOverride();
    const read = addSettingFlags(cmd);
    cmd.parse(args, { from: "user" });
    return loadConfig(read(cmd.opts()), env);
  }

  it("takes each setting from the highest layer that gives it", () => {
    const c = parseServe([
      "--config",
      file,
      "--grpc-port",
      "3001",
      "--no-decision-log",
      "--max-token-ttl",
      "2h",
    ]);
    expect(c).toMatchObject({
      grpcPort: 3001, // flag over variable and file
      issuer: "env", // variable over file
      httpPort: 1002, // file over default
      audience: "file",
      workers: 4,
      decisionLog: false, // --no-… over a variable saying true
      maxTokenTtlSeconds: 7200,
      dataDir: "./data", // default
    });
  });

  it("leaves an on/off setting to the layers below when neither of its flags is given", () => {
    expect(parseServe(["--config", file]).decisionLog).toBe(true);
    expect(parseServe(["--config", file, "--decision-log"]).decisionLog).toBe(true);
  });
});
