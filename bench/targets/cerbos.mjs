// Target 2, the peer: Cerbos from the npm package @cerbos/cerbos-linux-x64 (pinned in
// scripts/tools/cerbos/, installed on first use by scripts/tool.mjs), disk storage over
// bench/cerbos/policies/, gRPC and HTTP (its REST API and its AuthZEN endpoints,
// /access/v1/evaluation, served there without a switch) on loopback ports.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureTool } from "../../scripts/tool.mjs";
import { freePorts, runOk, start, waitFor } from "../proc.mjs";

const POLICIES = fileURLToPath(new URL("../cerbos/policies", import.meta.url));

/** The Cerbos binary: a development tool, installed on first use (not by `npm install`). */
export function cerbosBinary() {
  return ensureTool("cerbos").path;
}

export async function cerbosVersion() {
  const { stdout } = await runOk(cerbosBinary(), ["--version"], { timeoutMs: 10_000 });
  return `Cerbos ${stdout.split("\n")[0].trim()}`;
}

/** Starts Cerbos; `ready(port)` is a real call that resolves once it answers. */
export async function startCerbos(tmp, ready) {
  const [port, httpPort] = await freePorts(2);
  const config = join(tmp, "cerbos.yaml");
  writeFileSync(
    config,
    [
      "server:",
      `  grpcListenAddr: "127.0.0.1:${port}"`,
      `  httpListenAddr: "127.0.0.1:${httpPort}"`,
      "storage:",
      "  driver: disk",
      "  disk:",
      `    directory: ${JSON.stringify(POLICIES)}`,
      "    watchForChanges: false",
      "audit:",
      "  enabled: false",
      "",
    ].join("\n"),
  );
  const proc = start("cerbos", cerbosBinary(), ["server", `--config=${config}`, "--log-level=warn"], {
    env: { CERBOS_NO_TELEMETRY: "1" },
  });
  await waitFor("Cerbos to answer", () => ready(port), { proc, timeoutMs: 30_000, intervalMs: 200 });
  return { name: "cerbos", port, httpPort, proc };
}
