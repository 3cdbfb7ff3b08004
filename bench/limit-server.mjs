// The "limit" target: a bare @grpc/grpc-js server that decodes Tessera's request messages
// with protobuf-es and answers a constant response, in N node:cluster workers sharing one
// port (as Tessera does). Nothing on this stack can be faster.
//   node bench/limit-server.mjs PORT WORKERS

import cluster from "node:cluster";
import { randomUUID } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { AuthService, Decision } from "../dist/gen/tessera/v1/auth_service_pb.js";
import { AuthMethod, PrincipalKind, Tier } from "../dist/gen/tessera/v1/types_pb.js";

const [port, workers] = process.argv.slice(2).map(Number);

const CONSTANT = {
  authorize: {
    decision: Decision.ALLOW,
    reason: "ALLOWED_BY_RULE",
    rule: "scenario/propose",
    policyRevision: 1n,
    decisionId: randomUUID(),
  },
  authenticate: {
    principal: {
      id: "org_limit",
      kind: PrincipalKind.API_KEY,
      orgId: "org_limit",
      name: "org_limit",
      tier: Tier.UNVERIFIED,
      authMethod: AuthMethod.API_KEY,
    },
  },
  mintToken: {
    token: ["e".repeat(40), "e".repeat(280), "e".repeat(86)].join("."),
    tokenId: randomUUID(),
    expiresAt: { seconds: 4102444800n },
  },
};

function serve() {
  const server = new grpc.Server();
  const definition = {};
  const implementation = {};
  for (const [name, value] of Object.entries(CONSTANT)) {
    const method = AuthService.method[name];
    const response = create(method.output, value);
    definition[name] = {
      path: `/${AuthService.typeName}/${method.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (m) => Buffer.from(toBinary(method.input, m)),
      requestDeserialize: (b) => fromBinary(method.input, b),
      responseSerialize: (m) => Buffer.from(toBinary(method.output, m)),
      responseDeserialize: (b) => fromBinary(method.output, b),
    };
    implementation[name] = (_call, callback) => callback(null, response);
  }
  server.addService(definition, implementation);
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) {
      console.error(err);
      process.exit(1);
    }
    process.send?.("ready");
  });
  process.on("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
}

if (workers > 1 && cluster.isPrimary) {
  let ready = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on("message", (m) => {
      if (m === "ready" && ++ready === workers)
        console.log(`limit listening on ${port} with ${workers} workers`);
    });
  }
  cluster.on("exit", (w, code) => {
    console.error(`limit worker ${w.process.pid} exited ${code}`);
    process.exit(1);
  });
  process.on("SIGTERM", () => {
    cluster.removeAllListeners("exit");
    for (const w of Object.values(cluster.workers)) w.process.kill("SIGTERM");
    setTimeout(() => process.exit(0), 2000).unref();
  });
} else {
  serve();
  if (!cluster.isWorker) console.log(`limit listening on ${port} with 1 process`);
}
