// Target 3, Tessera: `tessera serve` on a temp data dir with N workers, the scenario policy
// applied with the CLI, an agent and a token for it. Optionally seeded first with an org and
// many agents straight in SQLite (bench/seed-agents.mjs).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { childPids, freePorts, rssMiB, runOk, start, waitFor } from "../proc.mjs";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "bin/tessera.js");
const SEED = join(ROOT, "bench/seed-agents.mjs");

let options;
/** The options `tessera serve --help` lists (to use --workers only if it is there); asked once. */
export function serveOptions() {
  if (!options) {
    const r = spawnSync(process.execPath, [BIN, "serve", "--help"], { encoding: "utf8", cwd: ROOT });
    options = new Set([...(r.stdout ?? "").matchAll(/(--[a-z][a-z-]*)/g)].map((m) => m[1]));
  }
  return options;
}

/**
 * How to start Tessera with its decision log off, if it has one: a `--no-decision-log`-style
 * flag of `serve`, else the TESSERA_DECISION_LOG setting of its config. Undefined when neither.
 */
export function decisionLogOff(options) {
  const flag = [...options].find((o) => /^--no-decision-log/.test(o));
  if (flag) return { how: flag, extraArgs: [flag] };
  const config = readFileSync(join(ROOT, "dist/src/config/config.js"), "utf8");
  if (config.includes("TESSERA_DECISION_LOG"))
    return { how: "TESSERA_DECISION_LOG=false", env: { TESSERA_DECISION_LOG: "false" } };
  return undefined;
}

/**
 * How to start Tessera whose Authorize answers only once its decision is stored (the decision
 * log's sync durability, issue #11), if it has the switch. Undefined when it has not.
 */
export function decisionLogSync(options) {
  if (!options.has("--decision-log-durability")) return undefined;
  const extraArgs = ["--decision-log-durability", "sync"];
  return { how: extraArgs.join(" "), extraArgs };
}

function banner(out, name) {
  const m = new RegExp(`export ${name}=(\\S+)`).exec(out);
  return m?.[1];
}

/**
 * Starts one Tessera. opts: instance (its data dir's name), tmp, workers (undefined: flag unsupported), policy (a file or
 * directory for `policy apply -f`), seedAgents, env, extraArgs, nodeArgs (e.g. --cpu-prof), ready(t) — a real
 * call that resolves once the server answers as expected. join: a Tessera already started on the same shared
 * database (another replica): this one takes its credentials, policy, agent and token instead of making its own.
 */
export async function startTessera(opts) {
  const dataDir = join(opts.tmp, opts.instance);
  let creds = opts.join && { apiKey: opts.join.apiKey, adminToken: opts.join.adminToken };
  if (opts.seedAgents) {
    const { stdout } = await runOk(process.execPath, [SEED, dataDir, String(opts.seedAgents)], {
      timeoutMs: 120_000,
    });
    creds = JSON.parse(stdout);
  }
  const [grpcPort, httpPort, healthPort] = await freePorts(3);
  const args = [
    ...(opts.nodeArgs ?? []),
    BIN,
    "serve",
    "--data-dir",
    dataDir,
    "--grpc-port",
    String(grpcPort),
    "--http-port",
    String(httpPort),
  ];
  // The health port, answered by the primary, where `serve` has one (the overload case probes it).
  if (serveOptions().has("--health-port")) args.push("--health-port", String(healthPort));
  if (opts.workers !== undefined) args.push("--workers", String(opts.workers));
  args.push("--log-level", "warn", ...(opts.extraArgs ?? []));
  const proc = start(`tessera (${opts.instance})`, process.execPath, args, { cwd: ROOT, env: opts.env });

  if (!creds) {
    // First start: the development org's credentials are printed once, as export lines.
    await waitFor("the dev-org banner", () => banner(proc.out, "TESSERA_ADMIN_TOKEN"), {
      proc,
      timeoutMs: 30_000,
    });
    creds = {
      apiKey: banner(proc.out, "TESSERA_API_KEY"),
      adminToken: banner(proc.out, "TESSERA_ADMIN_TOKEN"),
    };
  }
  const cliEnv = {
    TESSERA_SERVER: `http://127.0.0.1:${grpcPort}`,
    TESSERA_API_KEY: creds.apiKey,
    TESSERA_ADMIN_TOKEN: creds.adminToken,
    HOME: opts.tmp, // no ~/.tessera/config of the user's
  };
  const cli = async (...a) => {
    const { stdout } = await runOk(process.execPath, [BIN, "--json", ...a], {
      cwd: ROOT,
      env: cliEnv,
      timeoutMs: 60_000,
    });
    return stdout.trim() ? JSON.parse(stdout) : {};
  };
  await waitFor("Tessera to answer", () => cli("policy", "list"), {
    proc,
    timeoutMs: 30_000,
    intervalMs: 200,
  });
  const { agentId, token, revision } = opts.join ?? (await setUp(cli, opts.policy));

  const t = {
    name: "tessera",
    instance: opts.instance,
    port: grpcPort,
    httpPort,
    healthPort: args.includes("--health-port") ? healthPort : undefined,
    proc,
    apiKey: creds.apiKey,
    adminToken: creds.adminToken,
    agentId,
    token,
    revision,
    pids: () => [proc.pid, ...childPids(proc.pid)],
    rss: () => t.pids().map((pid) => ({ pid, primary: pid === proc.pid, rssMiB: rssMiB(pid) })),
  };
  if (opts.ready)
    await waitFor(`tessera (${opts.instance}) to serve the scenario`, () => opts.ready(t), {
      proc,
      timeoutMs: 30_000,
      intervalMs: 200,
    });
  return t;
}

/** The scenario on a fresh Tessera: its policy alone, an agent, and a token for the agent. */
async function setUp(cli, policy) {
  // Exactly the scenario's rules: drop the example policy a development org starts with.
  const listed = await cli("policy", "list");
  for (const p of listed.policies ?? [])
    if (p.name === "example") await cli("policy", "delete", "example", "--yes");
  const applied = await cli("policy", "apply", "-f", policy);
  const agent = await cli(
    "agents",
    "create",
    "--name",
    "bench-agent",
    "--tier",
    "verified",
    "--role",
    "operator",
  );
  const minted = await cli(
    "token",
    "mint",
    "--agent",
    agent.id,
    "--scope",
    "governance:propose",
    "--ttl",
    "1h",
  );
  return { agentId: agent.id, token: minted.token, revision: applied.revision };
}
