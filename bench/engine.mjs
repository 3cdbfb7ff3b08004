// Micro-benchmark of the policy engine alone: the cost of one decision with the 5-rule
// scenario policy vs. with 10,000 rules over 2,000 scopes loaded, and the time to compile
// a 10,000-rule revision. Run with `npm run bench:engine` (builds first). Not a test.
import { performance } from "node:perf_hooks";
import { parsePolicyDocuments } from "../dist/src/engine/document.js";
import { PolicyEngine, parseStored } from "../dist/src/engine/engine.js";
import { bigPolicy } from "./scenario/big-policy.mjs";

const SCENARIO = `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: scenario }
spec:
  rules:
    - { name: propose, scopes: ["governance:propose"], resources: [tool], effect: allow, minTier: verified, roles: [operator], condition: 'resource.attr.env != "frozen"' }
    - { name: read, scopes: ["governance:read"], effect: allow, roles: [viewer] }
    - { name: unverified-production, scopes: ["*"], effect: deny, condition: 'principal.tier == "unverified" && resource.attr.env == "production"' }
    - { name: audit, scopes: ["audit:read"], effect: allow, roles: [admin] }
    - { name: secrets, scopes: ["secrets:*"], effect: deny, condition: '!tier_at_least(principal.tier, "privileged")' }
`;

const QUERY = {
  subject: { id: "agent_abc123", tier: "verified", roles: ["operator"], tags: [], attr: {} },
  scope: "governance:propose",
  resource: { kind: "tool", id: "t1", attr: { env: "staging" } },
  context: {},
};

function measure(engine, orgId, iterations) {
  const start = performance.now();
  let allowed = 0;
  for (let i = 0; i < iterations; i++) if (engine.decide(orgId, QUERY).allow) allowed++;
  const ms = performance.now() - start;
  if (allowed !== iterations) throw new Error(`expected ALLOW every time, got ${allowed}/${iterations}`);
  return iterations / (ms / 1000);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const engine = new PolicyEngine();
const scenario = parsePolicyDocuments(SCENARIO, "scenario.yaml");
engine.install("small", 1, scenario);

const text = bigPolicy();
// A new document: every condition is parsed to validate it (what PutPolicy and `policy validate` do).
const t0 = performance.now();
const validated = parsePolicyDocuments(text, "big.yaml");
PolicyEngine.compile(1, validated);
const t1 = performance.now();
// A stored revision (at start, or when another worker picks up a change): validated already,
// so conditions compile on first use.
const bigDocs = parseStored("large", [text]);
engine.install("large", 1, [...scenario, ...bigDocs]);
const t2 = performance.now();

const ITER = 200_000;
measure(engine, "small", ITER); // warm up both paths
measure(engine, "large", ITER);
const small = [];
const large = [];
for (let round = 0; round < 7; round++) {
  small.push(measure(engine, "small", ITER));
  large.push(measure(engine, "large", ITER));
}
const result = {
  date: new Date().toISOString(),
  node: process.version,
  decisionsPerSecond: { rules5: Math.round(median(small)), rules10005: Math.round(median(large)) },
  ratio: Number((median(large) / median(small)).toFixed(3)),
  compileMs: { validateAndCompileNew: Math.round(t1 - t0), loadStoredRevision: Math.round(t2 - t1) },
};
console.log(JSON.stringify(result, null, 2));
console.log(
  `\n5 rules: ${result.decisionsPerSecond.rules5.toLocaleString()} decisions/s; 10,005 rules: ${result.decisionsPerSecond.rules10005.toLocaleString()} decisions/s; ratio ${result.ratio} (goal ≥ 0.9)`,
);
console.log(
  `10,000 rules with 6,000 distinct conditions: load a stored revision ${result.compileMs.loadStoredRevision} ms (goal < 1000 ms); validate and compile a new document ${result.compileMs.validateAndCompileNew} ms`,
);
