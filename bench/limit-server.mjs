// The "limit" target: a bare @grpc/grpc-js server that decodes Tessera's request messages
// with protobuf-es and answers a constant response, in N node:cluster workers sharing one
// port (as Tessera does). Nothing on this stack can be faster.
//   node bench/limit-server.mjs PORT WORKERS [MINT_TEMPLATE]
// With MINT_TEMPLATE (a JSON {header, claims} taken from a token Tessera minted), MintToken is
// no constant: each call signs the claims Tessera would sign (the template's, with the request's
// agent_id and scopes, this second's iat/nbf, exp from the request's ttl, a new jti) as a compact
// JWS with node:crypto Ed25519, and answers the token, its id and expiry (issue #15's limit for
// MintToken: what decoding, building the claims, signing and answering cost, nothing else).

import cluster from "node:cluster";
import { generateKeyPairSync, randomUUID, sign } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { AuthService, Decision } from "../dist/gen/tessera/v1/auth_service_pb.js";
import { AuthMethod, PrincipalKind, Tier } from "../dist/gen/tessera/v1/types_pb.js";

const [port, workers] = process.argv.slice(2, 4).map(Number);
const mintTemplate = process.argv[4] ? JSON.parse(process.argv[4]) : undefined;

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
  if (mintTemplate) implementation.mintToken = signingMint(mintTemplate);
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

/** MintToken that signs: the template's claims for the request's agent and scopes, Ed25519. */
function signingMint({ header, claims: template }) {
  const method = AuthService.method.mintToken;
  const { privateKey } = generateKeyPairSync("ed25519");
  const encodedHeader = Buffer.from(JSON.stringify(header)).toString("base64url");
  const defaultTtl = template.exp - template.iat;
  return (call, callback) => {
    const req = call.request;
    const now = Math.floor(Date.now() / 1000);
    const ttl = req.ttl ? Number(req.ttl.seconds) : defaultTtl;
    // Spread first: every claim keeps the template's (Tessera's) position in the JSON.
    const claims = {
      ...template,
      sub: req.agentId,
      scopes: req.scopes,
      iat: now,
      nbf: now,
      exp: now + ttl,
      jti: randomUUID(),
    };
    const input = `${encodedHeader}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
    const signature = sign(null, Buffer.from(input), privateKey).toString("base64url");
    callback(
      null,
      create(method.output, {
        token: `${input}.${signature}`,
        tokenId: claims.jti,
        expiresAt: { seconds: BigInt(claims.exp) },
      }),
    );
  };
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
