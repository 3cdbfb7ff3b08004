import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { ConfigError, loadConfig } from "../../src/config/config.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");
const json = (path: string) => JSON.parse(read(path));
const pkg = json("package.json");
const lock = json("package-lock.json");

describe("a production install (npm ci --omit=dev) can start", () => {
  it("prepare and start run scripts that work without TypeScript, not tsc itself", () => {
    expect(pkg.scripts.prepare).toBe("node scripts/build.mjs --prepare");
    expect(pkg.scripts.start).toBe("node scripts/start.mjs");
    expect(Object.keys(pkg.dependencies)).not.toContain("typescript");
  });

  it("packs bin/, dist/ and every script the package and the image run", () => {
    const files: string[] = pkg.files;
    expect(files).toEqual(expect.arrayContaining(["bin/", "dist/"]));
    const referenced = [pkg.scripts.prepare, pkg.scripts.start, read("Dockerfile")].join("\n");
    const scripts = [...new Set(referenced.match(/scripts\/[\w-]+\.mjs/g))];
    expect(scripts.length).toBeGreaterThanOrEqual(4);
    for (const script of scripts) expect(files, script).toContain(script);
    // What those scripts import must be packed too (node: builtins aside).
    for (const script of scripts) {
      for (const [, dep] of read(script).matchAll(/from "(\.[^"]+)"/g)) {
        expect(files, `${script} imports ${dep}`).toContain(join("scripts", dep ?? ""));
      }
    }
  });

  it("allows install scripts only where a dependency needs one (better-sqlite3 builds its addon)", () => {
    expect(pkg.allowScripts).toMatchObject({ "better-sqlite3": true });
    const installed = new Set(Object.keys(lock.packages).map((p) => p.replace(/^.*node_modules\//, "")));
    for (const name of Object.keys(pkg.allowScripts)) expect(installed, name).toContain(name);
  });
});

/** The Dockerfile's instructions of one stage, as [keyword, rest] pairs. */
function stages(): [string, string][][] {
  const lines = read("Dockerfile").replace(/\\\n/g, " ").split("\n");
  const out: [string, string][][] = [];
  for (const line of lines.map((l) => l.trim()).filter((l) => l && !l.startsWith("#"))) {
    const [keyword = "", ...rest] = line.split(/\s+/);
    if (keyword === "FROM") out.push([]);
    out.at(-1)?.push([keyword, rest.join(" ")]);
  }
  return out;
}

describe("the Dockerfile", () => {
  const all = stages();
  const runtime = all.at(-1) ?? [];
  const get = (k: string) => runtime.filter(([key]) => key === k).map(([, v]) => v);
  const env = Object.fromEntries(
    get("ENV").flatMap((v) => [...v.matchAll(/(\w+)=(\S*)/g)].map((m) => [m[1] ?? "", m[2] ?? ""])),
  );

  it("builds in stages whose steps are scripts/image.sh, and runs distroless as a non-root user", () => {
    expect(all.length).toBeGreaterThanOrEqual(3);
    const runs = all
      .flat()
      .filter(([k]) => k === "RUN")
      .map(([, v]) => v)
      .join("\n");
    expect(runs).toMatch(/scripts\/image\.sh build /);
    expect(runs).toMatch(/scripts\/image\.sh install /);
    expect(read("Dockerfile")).toMatch(/ARG RUNTIME_IMAGE=gcr\.io\/distroless\/nodejs20-debian12:nonroot/);
    expect(get("USER")).toEqual(["65532:65532"]);
    expect(runtime.some(([k]) => k === "RUN")).toBe(false); // no shell there to run one
  });

  it("keeps data in a volume, exposes both default ports and the health port it sets, and checks it", () => {
    const defaults = loadConfig({}, {});
    expect(get("VOLUME")).toEqual(['["/data"]']);
    expect(env.TESSERA_DATA_DIR).toBe("/data");
    expect(loadConfig({}, env).healthPort).toBe(8081);
    expect(get("EXPOSE")).toEqual([`${defaults.grpcPort} ${defaults.httpPort} ${env.TESSERA_HEALTH_PORT}`]);
    expect(get("HEALTHCHECK").join()).toMatch(
      /CMD \["\/nodejs\/bin\/node", "\/app\/scripts\/healthcheck\.mjs"\]/,
    );
  });

  it("serves TLS on 0.0.0.0: its settings load with the TLS files and are refused without them", () => {
    const config = loadConfig({}, env);
    expect(config).toMatchObject({ host: "0.0.0.0", grpcPort: 50051, httpPort: 8080, dataDir: "/data" });
    expect(config.tls?.certFile).toBe("/tls/server.pem");
    expect(() => loadConfig({}, { ...env, TESSERA_TLS_CERT: "", TESSERA_TLS_KEY: "" })).toThrow(ConfigError);
    // The documented sidecar: loopback, TLS emptied.
    const sidecar = { ...env, TESSERA_HOST: "127.0.0.1", TESSERA_TLS_CERT: "", TESSERA_TLS_KEY: "" };
    expect(loadConfig({}, sidecar).tls).toBeUndefined();
  });

  it("sends the build stage only what it builds from (.dockerignore allow-list)", () => {
    const rules = read(".dockerignore")
      .split("\n")
      .filter((l) => l && !l.startsWith("#"));
    expect(rules[0]).toBe("*");
    for (const kept of rules.slice(1)) expect(kept).not.toMatch(/data|certs|node_modules|dist|\.git|\.env/);
    for (const kept of rules.slice(1)) expect(existsSync(join(ROOT, kept.slice(1))), kept).toBe(true);
  });
});

describe("compose.yaml", () => {
  it("runs the image with its data volume and TLS files, PostgreSQL only as a comment", () => {
    const compose = parseYaml(read("compose.yaml"));
    expect(Object.keys(compose.services)).toEqual(["tessera"]);
    const tessera = compose.services.tessera;
    expect(tessera.build).toBe(".");
    expect(tessera.ports).toEqual(["50051:50051", "8080:8080"]);
    expect(tessera.volumes).toEqual(["tessera-data:/data", "./certs:/tls:ro"]);
    expect(read("compose.yaml")).toMatch(/^ {2}# postgres:$/m);
  });
});
