import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createDevCa } from "../../src/auth/dev-certs.js";
import { bootstrapDataDir } from "../../src/cluster.js";
import { type Config, type ConfigInput, loadConfig } from "../../src/config/config.js";
import { writeDevCredentials } from "../../src/config/dev-credentials.js";
import { configFileOf, originOf } from "../../src/config/origin.js";
import { createOrg, EXAMPLE_POLICY } from "../../src/core/bootstrap.js";
import { buildTessera } from "../../src/core/tessera.js";
import { PRODUCTION_BOUNDS } from "../../src/ops/bounds.js";
import type { Check, CheckEnv } from "../../src/ops/check.js";
import { CHECKS } from "../../src/ops/checks/index.js";
import { runChecklist } from "../../src/ops/doctor.js";
import { enforceProduction, ProductionRefusal, productionConfig } from "../../src/ops/production.js";
import { openStore } from "../../src/store/store.js";
import { tempDir } from "../helpers/server.js";

const tmp = tempDir("tessera-prod-checks-");
afterAll(() => tmp.cleanup());

let n = 0;
/** A fresh directory (mode 0700) under the test's temp dir. */
function freshDir(): string {
  const dir = join(tmp.dir, `d${n++}`);
  mkdirSync(dir, { mode: 0o700 });
  chmodSync(dir, 0o700);
  return dir;
}

/** A file with an exact mode (chmod after writing: the umask does not get a say). */
function fileWithMode(path: string, mode: number, text = "x"): string {
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

/** A config as loadConfig makes it (no TESSERA_* of the test machine), over a data dir of its own. */
const config = (flags: ConfigInput = {}): Config => loadConfig({ dataDir: freshDir(), ...flags }, {});

const LINUX: CheckEnv = { platform: "linux" };

const check = (id: string): Check => {
  const c = CHECKS.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id}`);
  return c;
};

/** The codes a check finds, in order. */
const codes = (id: string, c: Config, env: CheckEnv = LINUX) =>
  check(id)
    .run(c, env)
    .map((f) => f.code);

const TLS = { tlsCert: "/nonexistent/server.pem", tlsKey: "/nonexistent/server-key.pem" };

describe("tls-off-loopback", () => {
  const cases: [string, () => Config, string[]][] = [
    ["loopback, plaintext", () => config(), []],
    ["localhost, plaintext", () => config({ host: "localhost" }), []],
    [
      "0.0.0.0 without TLS (loadConfig refuses it too; the check stands on its own)",
      () => ({ ...config(), host: "0.0.0.0" }),
      ["PROD_PLAINTEXT_LISTENER", "PROD_PLAINTEXT_LISTENER"],
    ],
    [
      "0.0.0.0 without TLS, with a health port",
      () => ({ ...config({ healthPort: 9000 }), host: "0.0.0.0" }),
      ["PROD_PLAINTEXT_LISTENER", "PROD_PLAINTEXT_LISTENER", "PROD_PLAINTEXT_LISTENER"],
    ],
    ["0.0.0.0 with TLS", () => config({ host: "0.0.0.0", ...TLS }), []],
  ];
  it.each(cases)("%s", (_name, make, expected) => {
    expect(codes("tls-off-loopback", make())).toEqual(expected);
  });

  it("names the port and address in its message", () => {
    const [grpc] = check("tls-off-loopback").run({ ...config({ grpcPort: 7001 }), host: "10.0.0.5" }, LINUX);
    expect(grpc?.message).toContain("--grpc-port 7001");
    expect(grpc?.message).toContain("10.0.0.5");
  });
});

describe("grpc-client-ca", () => {
  const cases: [string, ConfigInput, string[]][] = [
    ["no TLS at all (loopback)", {}, []],
    ["TLS without a client CA", TLS, ["PROD_GRPC_NO_CLIENT_CA"]],
    ["TLS with a client CA", { ...TLS, tlsClientCa: "/nonexistent/ca.pem" }, []],
  ];
  it.each(cases)("%s", (_name, flags, expected) => {
    expect(codes("grpc-client-ca", config(flags))).toEqual(expected);
  });
});

describe("no-dev-certs", () => {
  it("warns for a server certificate and a client CA from tessera certs dev, not for another CA's", async () => {
    const dir = freshDir();
    const files = async (name: string, ca: Awaited<ReturnType<typeof createDevCa>>) => {
      const pair = await ca.issueServer();
      return {
        tlsCert: fileWithMode(join(dir, `${name}.pem`), 0o644, pair.cert),
        tlsKey: fileWithMode(join(dir, `${name}-key.pem`), 0o600, pair.key),
        tlsClientCa: fileWithMode(join(dir, `${name}-ca.pem`), 0o644, ca.cert),
      };
    };
    const dev = await files("dev", await createDevCa());
    expect(codes("no-dev-certs", config(dev))).toEqual(["PROD_DEV_CERT", "PROD_DEV_CERT"]);
    const own = await files("own", await createDevCa("Acme Issuing CA"));
    expect(codes("no-dev-certs", config(own))).toEqual([]);
    expect(codes("no-dev-certs", config({ ...own, tlsClientCa: dev.tlsClientCa }))).toEqual([
      "PROD_DEV_CERT",
    ]);
    expect(codes("no-dev-certs", config())).toEqual([]);
    expect(check("no-dev-certs").severity).toBe("warn");
  });
});

describe("master-key", () => {
  const b64 = (b: Buffer) => b.toString("base64");
  const cases: [string, ConfigInput, string[]][] = [
    ["none", {}, ["PROD_NO_MASTER_KEY"]],
    ["all zeros", { masterKey: b64(Buffer.alloc(32)) }, ["PROD_DEV_MASTER_KEY"]],
    ["a short pattern repeated", { masterKey: b64(Buffer.from("abcd".repeat(8))) }, ["PROD_DEV_MASTER_KEY"]],
    ["random", { masterKey: b64(randomBytes(32)) }, []],
  ];
  it.each(cases)("%s", (_name, flags, expected) => {
    expect(codes("master-key", config(flags))).toEqual(expected);
  });

  it("never shows the key in its message", () => {
    const key = Buffer.alloc(32, 7);
    const [f] = check("master-key").run(config({ masterKey: b64(key) }), LINUX);
    expect(f?.message).not.toContain(b64(key));
    expect(f?.message).not.toContain(key.toString("hex"));
  });
});

describe("master-key-not-in-argv, and where a setting comes from", () => {
  const key = randomBytes(32).toString("base64");

  it("warns for a flag, not for a variable or a file", () => {
    const c = config({ masterKey: key });
    expect(codes("master-key-not-in-argv", c, { ...LINUX, masterKeyOrigin: { kind: "flag" } })).toEqual([
      "PROD_MASTER_KEY_IN_ARGV",
    ]);
    expect(codes("master-key-not-in-argv", c, { ...LINUX, masterKeyOrigin: { kind: "env" } })).toEqual([]);
    expect(check("master-key-not-in-argv").severity).toBe("warn");
  });

  it("originOf finds the first source that gives a setting: flag, then variable, then file", () => {
    const file = fileWithMode(join(freshDir(), "tessera.yaml"), 0o600, `masterKey: ${key}\n`);
    const env = { TESSERA_CONFIG: file };
    expect(configFileOf({}, env)).toBe(file);
    expect(originOf("masterKey", {}, env)).toEqual({ kind: "file", path: file });
    expect(originOf("masterKey", {}, { ...env, TESSERA_MASTER_KEY: key })).toEqual({ kind: "env" });
    expect(originOf("masterKey", { masterKey: key }, env)).toEqual({ kind: "flag" });
    expect(originOf("masterKey", {}, {})).toBeUndefined();
  });
});

describe("no-dev-org and no-example-policy, over a real store", () => {
  it("pass on a data directory with no database yet, and on one with only a production org", async () => {
    const none = config();
    expect(codes("no-dev-org", none)).toEqual([]);
    expect(codes("no-example-policy", none)).toEqual([]);

    const c = config();
    const store = openStore(c.dataDir);
    try {
      await createOrg(store, "acme", new Date());
    } finally {
      void store.close();
    }
    expect(codes("no-dev-org", c)).toEqual([]);
    expect(codes("no-example-policy", c)).toEqual([]);
  });

  it("find the development org and its example policy that a development start creates", async () => {
    const c = config();
    const org = await bootstrapDataDir(c);
    expect(org).toBeDefined();
    expect(codes("no-dev-org", c)).toEqual(["PROD_DEV_ORG"]);
    expect(codes("no-example-policy", c)).toEqual(["PROD_EXAMPLE_POLICY"]);
    expect(check("no-dev-org").run(c, LINUX)[0]?.message).toContain(org?.orgId);
    // Its credentials file, as serve writes it, is a finding of its own.
    writeDevCredentials(c.dataDir, { ...(org as NonNullable<typeof org>), server: "x", http: "y" });
    expect(codes("no-dev-org", c)).toEqual(["PROD_DEV_ORG", "PROD_DEV_CREDENTIALS"]);
  });

  it("find the example policy copied into another org under another name, not an org's own policy named example", async () => {
    const c = config();
    const store = openStore(c.dataDir);
    try {
      const t = await buildTessera(store, { ...c, decisionLog: false });
      const copied = await createOrg(store, "acme", new Date());
      await t.policies.putTrusted(
        copied.orgId,
        EXAMPLE_POLICY.replace("name: example", "name: starter"),
        "s.yaml",
      );
      const own = await createOrg(store, "beta", new Date());
      const ownExample = EXAMPLE_POLICY.replace("governance:read", "reports:read");
      await t.policies.putTrusted(own.orgId, ownExample, "example.yaml");
      await t.decisionLog?.close();
    } finally {
      void store.close();
    }
    expect(codes("no-dev-org", c)).toEqual([]);
    // The renamed copy is not the stored text of EXAMPLE_POLICY (its name line differs): only a
    // verbatim copy counts, so this stays a pass; the verbatim case follows.
    expect(codes("no-example-policy", c)).toEqual([]);

    const v = config();
    const s2 = openStore(v.dataDir);
    try {
      const t = await buildTessera(s2, { ...v, decisionLog: false });
      await t.policies.putTrusted(
        (await createOrg(s2, "acme", new Date())).orgId,
        EXAMPLE_POLICY,
        "example.yaml",
      );
      await t.decisionLog?.close();
    } finally {
      void s2.close();
    }
    expect(codes("no-example-policy", v)).toEqual(["PROD_EXAMPLE_POLICY"]);
  });
});

describe("data-dir-private, with real modes", () => {
  it.each([
    ["0700 and files 0600", 0o700, 0o600, []],
    ["0755", 0o755, 0o600, ["PROD_DATA_DIR_MODE"]],
    ["0750 (group may list it)", 0o750, 0o600, ["PROD_DATA_DIR_MODE"]],
    ["a file 0644", 0o700, 0o644, ["PROD_DATA_FILE_MODE"]],
    ["a file 0640 (group may read it)", 0o700, 0o640, ["PROD_DATA_FILE_MODE"]],
    ["both", 0o711, 0o604, ["PROD_DATA_DIR_MODE", "PROD_DATA_FILE_MODE"]],
  ] as const)("data dir %s", (_name, dirMode, fileMode, expected) => {
    const c = config();
    fileWithMode(join(c.dataDir, "tessera.db"), fileMode);
    chmodSync(c.dataDir, dirMode);
    expect(codes("data-dir-private", c)).toEqual(expected);
  });

  it("looks into subdirectories, and passes a data directory not made yet", () => {
    const c = config();
    mkdirSync(join(c.dataDir, "spill"), { mode: 0o700 });
    const nested = fileWithMode(join(c.dataDir, "spill", "decisions.jsonl"), 0o644);
    const [f] = check("data-dir-private").run(c, LINUX);
    expect(f?.code).toBe("PROD_DATA_FILE_MODE");
    expect(f?.message).toContain(nested);
    expect(f?.message).toContain("0644");
    expect(codes("data-dir-private", { ...c, dataDir: join(c.dataDir, "not-yet") })).toEqual([]);
  });

  it("has nothing to check on Windows", () => {
    const c = config();
    chmodSync(c.dataDir, 0o777);
    expect(codes("data-dir-private", c, { platform: "win32" })).toEqual([]);
    expect(codes("data-dir-private", c)).toEqual(["PROD_DATA_DIR_MODE"]);
  });
});

describe("key-files-private, with real modes", () => {
  it.each([
    ["0600", 0o600, []],
    ["0400", 0o400, []],
    ["0640", 0o640, ["PROD_KEY_FILE_MODE"]],
    ["0644", 0o644, ["PROD_KEY_FILE_MODE"]],
  ] as const)("a TLS key file %s", (_name, mode, expected) => {
    const dir = freshDir();
    const key = fileWithMode(join(dir, "server-key.pem"), mode);
    const c = config({ tlsCert: join(dir, "server.pem"), tlsKey: key });
    expect(codes("key-files-private", c)).toEqual(expected);
  });

  it("checks the config file only when it holds the master key", () => {
    const file = fileWithMode(join(freshDir(), "tessera.yaml"), 0o644, "mode: production\n");
    const c = config();
    expect(codes("key-files-private", c, { ...LINUX, configFile: file })).toEqual([]);
    const inFile = { ...LINUX, configFile: file, masterKeyOrigin: { kind: "file" as const, path: file } };
    expect(codes("key-files-private", c, inFile)).toEqual(["PROD_KEY_FILE_MODE"]);
    chmodSync(file, 0o600);
    expect(codes("key-files-private", c, inFile)).toEqual([]);
  });
});

describe("token-lifetimes and clock-tolerance, within PRODUCTION_BOUNDS", () => {
  const B = PRODUCTION_BOUNDS;
  it.each([
    ["the defaults", {}, [], []],
    [
      "exactly the bounds",
      { maxTokenTtlSeconds: B.maxTokenTtlSeconds, clockToleranceSeconds: B.clockToleranceSeconds },
      [],
      [],
    ],
    ["max token TTL 1h1s", { maxTokenTtlSeconds: B.maxTokenTtlSeconds + 1 }, ["PROD_TOKEN_TTL"], []],
    ["refresh TTL 31d", { refreshTokenTtlSeconds: 31 * 86400 }, ["PROD_REFRESH_TOKEN_TTL"], []],
    ["session lifetime 31d", { sessionMaxLifetimeSeconds: 31 * 86400 }, ["PROD_SESSION_LIFETIME"], []],
    ["clock tolerance 61s", { clockToleranceSeconds: 61 }, [], ["PROD_CLOCK_TOLERANCE"]],
    [
      "everything over",
      {
        maxTokenTtlSeconds: "2h",
        refreshTokenTtlSeconds: "90d",
        sessionMaxLifetimeSeconds: "90d",
        clockToleranceSeconds: "5m",
      },
      ["PROD_TOKEN_TTL", "PROD_REFRESH_TOKEN_TTL", "PROD_SESSION_LIFETIME"],
      ["PROD_CLOCK_TOLERANCE"],
    ],
  ] as [string, ConfigInput, string[], string[]][])("%s", (_name, flags, tokens, clock) => {
    const c = config(flags);
    expect(codes("token-lifetimes", c)).toEqual(tokens);
    expect(codes("clock-tolerance", c)).toEqual(clock);
  });

  it("says the value and the bound", () => {
    const [f] = check("token-lifetimes").run(config({ maxTokenTtlSeconds: "2h" }), LINUX);
    expect(f?.message).toContain("2h");
    expect(f?.message).toContain("1h");
  });
});

describe("cors-no-wildcard", () => {
  it.each([
    ["no origins (the default)", {}, []],
    ["listed origins", { corsOrigins: "https://app.example.com,http://localhost:5173" }, []],
    ["any origin", { corsOrigins: "*" }, ["PROD_CORS_WILDCARD"]],
  ] as [string, ConfigInput, string[]][])("%s", (_name, flags, found) => {
    expect(codes("cors-no-wildcard", config(flags))).toEqual(found);
  });
});

describe("the checklist", () => {
  const key = randomBytes(32).toString("base64");

  it("has stable, unique ids", () => {
    const ids = CHECKS.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z][a-z-]+$/);
  });

  it("fails fatal findings in production mode, and only warns in development mode", () => {
    const prod = runChecklist(config({ mode: "production" }), LINUX);
    expect(prod.ok).toBe(false);
    expect(prod.checks.find((c) => c.id === "master-key")?.status).toBe("fail");
    const dev = runChecklist(config(), LINUX);
    expect(dev.ok).toBe(true);
    expect(dev.checks.find((c) => c.id === "master-key")?.status).toBe("warn");
  });

  it("a warn check never fails, and a check that throws is a finding, not a crash", () => {
    const c = config({ mode: "production", masterKey: key });
    const warnOnly: Check = {
      id: "w",
      title: "w",
      severity: "warn",
      codes: ["W"],
      run: () => [{ code: "W", message: "w" }],
    };
    const broken: Check = {
      id: "b",
      title: "b",
      severity: "fatal",
      codes: [],
      run: () => {
        throw new Error("boom");
      },
    };
    const list = runChecklist(c, LINUX, [warnOnly, broken]);
    expect(list.checks.map((r) => [r.id, r.status, r.findings.map((f) => f.code)])).toEqual([
      ["w", "warn", ["W"]],
      ["b", "fail", ["PROD_CHECK_ERROR"]],
    ]);
  });

  it("a good production config passes every check", () => {
    const dir = freshDir();
    const c = config({
      mode: "production",
      masterKey: key,
      tlsCert: join(dir, "server.pem"),
      tlsKey: fileWithMode(join(dir, "server-key.pem"), 0o600),
      tlsClientCa: join(dir, "ca.pem"),
      host: "0.0.0.0",
    });
    const list = runChecklist(c, { platform: "linux", masterKeyOrigin: { kind: "env" } });
    expect(list.checks.filter((r) => r.status !== "pass")).toEqual([]);
    expect(list.ok).toBe(true);
  });
});

describe("the README's production checklist", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const section = readme.slice(readme.indexOf("## Production checklist"));
  const rows = section
    .slice(0, section.indexOf("\n## ", 3))
    .split("\n")
    .filter((l) => /^\| `[a-z-]+`/.test(l));

  it("lists every check, in order, with exactly the codes it may find", () => {
    expect(rows.map((r) => /^\| `([a-z-]+)`/.exec(r)?.[1])).toEqual(CHECKS.map((c) => c.id));
    for (const [i, c] of CHECKS.entries()) {
      const last = rows[i]?.split("|").at(-2) ?? "";
      expect(
        [...last.matchAll(/`(PROD_[A-Z_]+)`/g)].map((m) => m[1]),
        c.id,
      ).toEqual(c.codes);
    }
  });

  it("quotes the bounds of src/ops/bounds.ts", () => {
    const B = PRODUCTION_BOUNDS;
    expect(B).toEqual({
      maxTokenTtlSeconds: 3600,
      clockToleranceSeconds: 60,
      refreshTokenTtlSeconds: 30 * 86400,
      sessionMaxLifetimeSeconds: 30 * 86400,
    });
    const row = (id: string) => rows.find((r) => r.startsWith(`| \`${id}\``)) ?? "";
    expect(row("token-lifetimes")).toContain("`maxTokenTtlSeconds` ≤ 1 h");
    expect(row("token-lifetimes")).toContain("`refreshTokenTtlSeconds` ≤ 30 d");
    expect(row("token-lifetimes")).toContain("`sessionMaxLifetimeSeconds` ≤ 30 d");
    expect(row("clock-tolerance")).toContain("≤ 60 s");
  });
});

describe("enforceProduction", () => {
  it("throws every failure at once, each with its code, in production mode only", () => {
    const bad = { mode: "production", maxTokenTtlSeconds: "2h", clockToleranceSeconds: "5m" } as const;
    const c = config(bad);
    chmodSync(c.dataDir, 0o755);
    let refusal: unknown;
    try {
      enforceProduction(c, LINUX);
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toBeInstanceOf(ProductionRefusal);
    const found = (refusal as ProductionRefusal).findings.map((f) => f.code);
    expect(found).toEqual([
      "PROD_NO_MASTER_KEY",
      "PROD_DATA_DIR_MODE",
      "PROD_TOKEN_TTL",
      "PROD_CLOCK_TOLERANCE",
    ]);
    for (const code of found) expect((refusal as Error).message).toContain(code);
    expect(() => enforceProduction({ ...c, mode: "development" }, LINUX)).not.toThrow();
  });

  it("production never creates a development org; development keeps today's default", () => {
    expect(productionConfig(config({ mode: "production" })).bootstrapDevOrg).toBe(false);
    expect(productionConfig(config()).bootstrapDevOrg).toBe(true);
  });
});
