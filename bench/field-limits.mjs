// Micro-benchmark of the compiled field-limit check on the Authorize hot path: ns per check
// for typical requests (token subject; attributes subject with a resource attr; a context
// Struct). Run with `npm run build && node bench/field-limits.mjs`. Not a test.

import { performance } from "node:perf_hooks";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AuthorizeRequestSchema } from "../dist/gen/tessera/v1/auth_service_pb.js";
import { compileFieldLimits } from "../dist/src/rpc/field-limits.js";

const check = compileFieldLimits(AuthorizeRequestSchema);
const token = `eyJhbGciOiJFZERTQSJ9.${"e".repeat(560)}.${"s".repeat(86)}`;
const REQUESTS = {
  "token subject, scope, resource": create(AuthorizeRequestSchema, {
    subject: { case: "token", value: token },
    scope: "governance:propose",
    resource: { kind: "tool", id: "t1" },
  }),
  "attributes subject, resource attr": create(AuthorizeRequestSchema, {
    subject: { case: "attributes", value: { id: "agent_abc123", tier: 2, roles: ["operator"] } },
    scope: "governance:propose",
    resource: { kind: "tool", id: "t1", attr: { env: "staging" } },
  }),
  "token subject, 8-key context": create(AuthorizeRequestSchema, {
    subject: { case: "token", value: token },
    scope: "governance:propose",
    resource: { kind: "tool", id: "t1" },
    context: {
      ip: "10.0.0.1",
      method: "GET",
      path: "/v1/items",
      n: 3,
      ok: true,
      tags: ["a", "b"],
      a: null,
      b: "x",
    },
  }),
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const N = 2_000_000;
for (const [name, built] of Object.entries(REQUESTS)) {
  // As the server sees it: decoded from the wire.
  const req = fromBinary(AuthorizeRequestSchema, toBinary(AuthorizeRequestSchema, built));
  for (let i = 0; i < N; i++) check(req); // warm up
  const runs = [];
  for (let r = 0; r < 5; r++) {
    const start = performance.now();
    for (let i = 0; i < N; i++) check(req);
    runs.push(((performance.now() - start) * 1e6) / N);
  }
  console.log(`${name}: ${median(runs).toFixed(1)} ns per check`);
}
