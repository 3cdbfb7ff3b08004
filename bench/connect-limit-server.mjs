// The HTTP port's limit target (issue #15): a bare @connectrpc/connect-node server on
// node:http (as Tessera's plaintext HTTP port is) whose Authorize answers a constant response,
// in N node:cluster workers sharing one port (as Tessera does). Connect JSON and binary are
// decoded by the library as for Tessera; nothing else runs.
//   node bench/connect-limit-server.mjs PORT WORKERS

import cluster from "node:cluster";
import { randomUUID } from "node:crypto";
import http from "node:http";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { AuthService, Decision } from "../dist/gen/tessera/v1/auth_service_pb.js";

const [port, workers] = process.argv.slice(2).map(Number);

const ANSWER = {
  decision: Decision.ALLOW,
  reason: "ALLOWED_BY_RULE",
  rule: "scenario/propose",
  policyRevision: 1n,
  decisionId: randomUUID(),
};

function serve() {
  const handler = connectNodeAdapter({
    routes: (router) => router.rpc(AuthService.method.authorize, async () => ANSWER),
  });
  const server = http.createServer(handler);
  server.listen(port, "127.0.0.1", () => process.send?.("ready"));
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}

if (workers > 1 && cluster.isPrimary) {
  let ready = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on("message", (m) => {
      if (m === "ready" && ++ready === workers)
        console.log(`connect limit listening on ${port} with ${workers} workers`);
    });
  }
  cluster.on("exit", (w, code) => {
    console.error(`connect limit worker ${w.process.pid} exited ${code}`);
    process.exit(1);
  });
  process.on("SIGTERM", () => {
    cluster.removeAllListeners("exit");
    for (const w of Object.values(cluster.workers)) w.process.kill("SIGTERM");
    setTimeout(() => process.exit(0), 2000).unref();
  });
} else {
  serve();
  if (!cluster.isWorker) console.log(`connect limit listening on ${port} with 1 process`);
}
