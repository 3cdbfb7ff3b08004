import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, type ConfigInput, isLoopback, loadConfig } from "../../src/config/config.js";
import { parseDuration } from "../../src/config/duration.js";
import { tempDir } from "../helpers/server.js";

const tmp = tempDir("tessera-config-");
afterAll(() => tmp.cleanup());

/** Writes a YAML config file into the temp dir and returns its path. */
function configFile(name: string, yaml: string): string {
  const path = join(tmp.dir, name);
  writeFileSync(path, yaml);
  return path;
}

/** loadConfig with an explicit environment, so the test machine's TESSERA_* never leak in. */
const load = (flags: ConfigInput = {}, env: Record<string, string> = {}) => loadConfig(flags, env);

const refused = (flags: ConfigInput, env: Record<string, string> = {}) =>
  expect(() => load(flags, env)).toThrow(ConfigError);

describe("loadConfig defaults", () => {
  it("documents every default", () => {
    const c = load();
    expect(c).toMatchObject({
      dataDir: "./data",
      host: "127.0.0.1",
      grpcPort: 50051,
      httpPort: 8080,
      tls: undefined,
      issuer: "tessera",
      audience: "tessera",
      defaultTokenTtlSeconds: 900,
      maxTokenTtlSeconds: 3600,
      clockToleranceSeconds: 10,
      maxMessageBytes: 65536,
      bootstrapDevOrg: true,
    });
    expect(Object.isFrozen(c)).toBe(true);
  });
});

describe("loadConfig precedence: flags > env > file > defaults", () => {
  const file = configFile(
    "all.yaml",
    "grpcPort: 1001\nhttpPort: 1002\nissuer: from-file\naudience: from-file\n",
  );

  it("takes the file over the defaults", () => {
    expect(load({ config: file })).toMatchObject({ grpcPort: 1001, httpPort: 1002, issuer: "from-file" });
  });

  it("takes the environment over the file", () => {
    const c = load({ config: file }, { TESSERA_GRPC_PORT: "2001", TESSERA_ISSUER: "from-env" });
    expect(c).toMatchObject({ grpcPort: 2001, httpPort: 1002, issuer: "from-env", audience: "from-file" });
  });

  it("takes flags over the environment and the file", () => {
    const c = load(
      { config: file, grpcPort: 3001, issuer: "from-flag" },
      { TESSERA_GRPC_PORT: "2001", TESSERA_ISSUER: "from-env", TESSERA_HTTP_PORT: "2002" },
    );
    expect(c).toMatchObject({ grpcPort: 3001, httpPort: 2002, issuer: "from-flag", audience: "from-file" });
  });

  it("ignores flags given as undefined and empty environment variables", () => {
    const c = load(
      { config: file, grpcPort: undefined },
      { TESSERA_GRPC_PORT: "", TESSERA_HTTP_PORT: "2002" },
    );
    expect(c).toMatchObject({ grpcPort: 1001, httpPort: 2002 });
  });

  it("finds the file through TESSERA_CONFIG, and a --config flag wins over it", () => {
    const other = configFile("other.yaml", "grpcPort: 4001\n");
    expect(load({}, { TESSERA_CONFIG: file }).grpcPort).toBe(1001);
    expect(load({ config: other }, { TESSERA_CONFIG: file }).grpcPort).toBe(4001);
  });

  it("treats an empty file as no settings", () => {
    expect(load({ config: configFile("empty.yaml", "") }).grpcPort).toBe(50051);
  });

  it.each([
    ["missing", join(tmp.dir, "no-such-file.yaml")],
    ["not a mapping", configFile("list.yaml", "- a\n- b\n")],
    ["not YAML", configFile("bad.yaml", "grpcPort: [1\n")],
  ])("refuses a config file that is %s", (_name, path) => {
    refused({ config: path });
  });
});

describe("loadConfig refuses unsafe or invalid settings", () => {
  it.each(["0.0.0.0", "10.0.0.5", "::", "example.com", "128.0.0.1"])("refuses plaintext on %s", (host) => {
    refused({ host });
    refused({}, { TESSERA_HOST: host });
  });

  it.each(["127.0.0.1", "127.1.2.3", "localhost", "::1"])("allows plaintext on loopback %s", (host) => {
    expect(isLoopback(host)).toBe(true);
    expect(load({ host }).host).toBe(host);
  });

  it("allows a non-loopback host with TLS", () => {
    const c = load({ host: "0.0.0.0", tlsCert: "cert.pem", tlsKey: "key.pem" });
    expect(c.tls).toEqual({ certFile: "cert.pem", keyFile: "key.pem", clientCaFile: undefined });
  });

  it.each<[string, ConfigInput]>([
    ["--tls-cert without --tls-key", { tlsCert: "cert.pem" }],
    ["--tls-key without --tls-cert", { tlsKey: "key.pem" }],
    ["--tls-client-ca without a certificate", { tlsClientCa: "ca.pem" }],
  ])("refuses %s", (_name, flags) => {
    refused(flags);
  });

  it.each(["abc", "-1", "65536", "70000", "1.5", "8080x"])("refuses the port %j", (value) => {
    refused({ grpcPort: value });
    refused({ httpPort: value });
    refused({}, { TESSERA_GRPC_PORT: value });
  });

  it.each(["0", "1", "65535"])("accepts the port %s", (value) => {
    expect(load({ grpcPort: value }).grpcPort).toBe(Number(value));
  });

  it.each<[string, ConfigInput]>([
    ["a malformed duration", { maxTokenTtlSeconds: "1x" }],
    ["a zero max token TTL", { maxTokenTtlSeconds: "0s" }],
    ["a negative tolerance", { clockToleranceSeconds: -5 }],
    ["a fractional duration", { defaultTokenTtlSeconds: 1.5 }],
    ["a message limit under 1 KiB", { maxMessageBytes: 512 }],
    ["a non-numeric message limit", { maxMessageBytes: "lots" }],
    ["a non-boolean bootstrap flag", { bootstrapDevOrg: "maybe" }],
    ["a zero session lifetime", { sessionMaxLifetimeSeconds: "0" }],
    ["a malformed session lifetime", { sessionMaxLifetimeSeconds: "forever" }],
  ])("refuses %s", (_name, flags) => {
    refused(flags);
  });
});

describe("durations", () => {
  it("parses durations in flags, environment and file", () => {
    const file = configFile("ttl.yaml", "clockToleranceSeconds: 30s\n");
    const c = load({ config: file, maxTokenTtlSeconds: "2h" }, { TESSERA_DEFAULT_TOKEN_TTL: "15m" });
    expect(c).toMatchObject({
      maxTokenTtlSeconds: 7200,
      defaultTokenTtlSeconds: 900,
      clockToleranceSeconds: 30,
    });
  });

  it("takes the absolute session lifetime from TESSERA_SESSION_MAX_LIFETIME, a day by default", () => {
    expect(load().sessionMaxLifetimeSeconds).toBe(86400);
    expect(load({}, { TESSERA_SESSION_MAX_LIFETIME: "8h" }).sessionMaxLifetimeSeconds).toBe(28800);
    const file = configFile("session.yaml", "sessionMaxLifetimeSeconds: 2d\n");
    expect(load({ config: file }).sessionMaxLifetimeSeconds).toBe(172800);
  });

  it("caps the default token TTL at the maximum", () => {
    const c = load({ maxTokenTtlSeconds: "10m", defaultTokenTtlSeconds: "1h" });
    expect(c).toMatchObject({ maxTokenTtlSeconds: 600, defaultTokenTtlSeconds: 600 });
  });

  it.each([
    ["90", 90],
    ["0", 0],
    ["30s", 30],
    ["15m", 900],
    ["1h", 3600],
    ["2d", 172800],
    ["1h30m", 5400],
    ["1d2h3m4s", 93784],
    [" 15m ", 900],
  ])("parseDuration(%j) is %d seconds", (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each(["", " ", "h", "1.5h", "-1h", "1 h", "1hx", "x1h", "m15", "1y", "15M", "1h 30m", "1e3", "0x10"])(
    "parseDuration(%j) is undefined",
    (text) => {
      expect(parseDuration(text)).toBeUndefined();
    },
  );
});

describe("decision-log settings", () => {
  it("documents the defaults: 256 MiB per org per minute, retry the database every 5 s", () => {
    expect(load()).toMatchObject({
      decisionLogOrgQuotaBytes: 256 * 1024 * 1024,
      decisionLogOrgQuotaWindowSeconds: 60,
      decisionLogSpillRetrySeconds: 5,
    });
  });

  it("reads sizes with units and durations, from flags, environment and file", () => {
    const file = configFile("declog.yaml", "decisionLogOrgQuotaWindowSeconds: 5m\n");
    const c = load(
      { config: file, decisionLogSpillRetrySeconds: "2s" },
      { TESSERA_DECISION_LOG_ORG_QUOTA: "512KiB" },
    );
    expect(c).toMatchObject({
      decisionLogOrgQuotaBytes: 512 * 1024,
      decisionLogOrgQuotaWindowSeconds: 300,
      decisionLogSpillRetrySeconds: 2,
    });
    expect(load({ decisionLogOrgQuotaBytes: "0" }).decisionLogOrgQuotaBytes).toBe(0);
    expect(load({}, { TESSERA_DECISION_LOG_ORG_QUOTA: "2MiB" }).decisionLogOrgQuotaBytes).toBe(2 * 1024 ** 2);
  });

  it("durability: async unless told sync, from a flag, the environment or the file", () => {
    expect(load().decisionLogDurability).toBe("async");
    expect(load({ decisionLogDurability: "sync" }).decisionLogDurability).toBe("sync");
    expect(load({}, { TESSERA_DECISION_LOG_DURABILITY: "sync" }).decisionLogDurability).toBe("sync");
    const file = configFile("durability.yaml", "decisionLogDurability: sync\n");
    expect(load({ config: file }).decisionLogDurability).toBe("sync");
  });

  it("refuses a durability it does not know, naming the flag or the variable", () => {
    expect(() => load({ decisionLogDurability: "fsync" })).toThrow(
      /^--decision-log-durability must be one of async, sync/,
    );
    expect(() => load({}, { TESSERA_DECISION_LOG_DURABILITY: "SYNC" })).toThrow(
      /^TESSERA_DECISION_LOG_DURABILITY must be one of async, sync/,
    );
  });

  it.each<[string, ConfigInput]>([
    ["a quota that is not a size", { decisionLogOrgQuotaBytes: "lots" }],
    ["a negative quota", { decisionLogOrgQuotaBytes: -1 }],
    ["a quota in unknown units", { decisionLogOrgQuotaBytes: "8MB" }],
    ["a zero quota window", { decisionLogOrgQuotaWindowSeconds: "0s" }],
    ["a zero spill retry", { decisionLogSpillRetrySeconds: 0 }],
  ])("refuses %s", (_name, flags) => {
    refused(flags);
  });
});
