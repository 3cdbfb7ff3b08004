// `npm run bench:hostile`: issue #11's goal that no single request or policy can take a worker
// above 50 ms of CPU or 64 MiB of extra memory. Starts one Tessera process (`--workers 1`), sends
// each hostile request of the issue (and the worst this author could build within the field
// limits) several times, and measures the process's CPU time per request (/proc/PID/stat, all
// threads: the policy-check thread included) and its peak RSS above what it held before
// (/proc/PID/status VmHWM, reset through clear_refs before each case). Prints a table; writes nothing.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, fromJson } from "@bufbuild/protobuf";
import { AdminService } from "../dist/gen/tessera/v1/admin_service_pb.js";
import {
  AuthorizeBatchRequestSchema,
  AuthorizeRequestSchema,
  AuthService,
} from "../dist/gen/tessera/v1/auth_service_pb.js";
import { grpcClient } from "./grpc-call.mjs";
import { stopAll } from "./proc.mjs";
import * as req from "./scenario/requests.mjs";
import { startTessera } from "./targets/tessera.mjs";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const REPS = Number(process.env.HOSTILE_REPS ?? 10);
const GOAL_CPU_MS = 50;
const GOAL_MEM_MIB = 64;
const TICK_MS = 10; // USER_HZ is 100 on Linux

const digits = "[0,1,2,3,4,5,6,7,8,9]";
const nested = (fn, vars, body) =>
  `${vars
    .split("")
    .map((v) => `${digits}.${fn}(${v}, `)
    .join("")}${body}${")".repeat(vars.length)}`;

const policy = (name, scope, condition) => `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: ${name} }
spec:
  rules:
    - name: r
      scopes: ["${scope}"]
      effect: allow
      condition: ${JSON.stringify(condition)}
`;

/** `fn` nested over a constant list of 30 numbers: 30^depth evaluations of the body. */
const thirty = (fn, vars, body) => {
  const range = `[${Array.from({ length: 30 }, (_, i) => i).join(",")}]`;
  return `${vars
    .split("")
    .map((v) => `${range}.${fn}(${v}, `)
    .join("")}${body}${")".repeat(vars.length)}`;
};

/** The hostile stored conditions: each is put (and may be refused: that is a result too). */
const STORED = {
  quadratic: ["hostile:quadratic", "context.l.all(x, x in context.l)"],
  cubic: [
    "hostile:cubic",
    "context.l.all(x, resource.attr.l.all(y, principal.attr.l.all(z, x + y + z != '')))",
  ],
  memory: ["hostile:memory", "context.l.map(x, context.s + context.s + x + x).size() > 0"],
  constant: ["hostile:constant", thirty("all", "abc", "a + b + c >= 0")],
};

/** `n` distinct strings of ~120 bytes (the context Struct holds 255 of them, 32 KiB). */
const list = (n) => Array.from({ length: n }, (_, i) => `${i}-${"x".repeat(110)}`);
const bigList = list(255);

const subject = (attr = {}) => ({ id: "agent_hostile", tier: "TIER_VERIFIED", roles: ["operator"], attr });
const authorize = (scope, context = {}, resourceAttr = {}, subjectAttr = {}) =>
  fromJson(AuthorizeRequestSchema, {
    attributes: subject(subjectAttr),
    scope,
    resource: { kind: "tool", id: "t1", attr: resourceAttr },
    context,
  });

function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]); // utime + stime
}

function statusKiB(pid, field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? Number.NaN);
}

/** Sends `call` REPS times in a row; CPU ms per call, peak extra MiB, and what it answered. */
async function measure(pid, call) {
  let outcome;
  const once = async () => {
    try {
      outcome = describe(await call());
    } catch (err) {
      outcome = String(err.message).replace(/^\S+: /, "");
    }
  };
  await once(); // warm: compiled conditions, caches
  writeFileSync(`/proc/${pid}/clear_refs`, "5"); // resets VmHWM to the current RSS
  const rssBefore = statusKiB(pid, "VmRSS");
  const t0 = cpuTicks(pid);
  const started = performance.now();
  for (let i = 0; i < REPS; i++) await once();
  const wallMs = (performance.now() - started) / REPS;
  const cpuMs = ((cpuTicks(pid) - t0) * TICK_MS) / REPS;
  const extraMiB = (statusKiB(pid, "VmHWM") - rssBefore) / 1024;
  return { cpuMs, wallMs, extraMiB, outcome };
}

function describe(res) {
  if (res.decision !== undefined)
    return `${res.decision === 1 ? "ALLOW" : "DENY"} ${res.reason ?? ""}`.trim();
  if (res.results)
    return `${res.results.length} decisions, ${res.results.filter((r) => r.decision === 1).length} ALLOW`;
  return "OK";
}

async function main() {
  const tmp = mkdtempSync(join(tmpdir(), "tessera-hostile-"));
  let client;
  try {
    const t = await startTessera({
      instance: "hostile",
      tmp,
      workers: 1,
      policy: join(HERE, "scenario/policy.yaml"),
    });
    const admin = { "x-api-key": t.apiKey, "x-admin-token": t.adminToken };
    const key = { "x-api-key": t.apiKey };
    client = grpcClient(t.port);
    const M = AdminService.method;
    const A = AuthService.method;
    const admin$ = (method, message) => client.call(method, create(method.input, message), admin);
    // Four rules on one scope, each of the quadratic kind: together they spend the whole
    // budget a decision has (300,000 steps), the most CPU one Authorize can take by design.
    const heavy = [1, 2, 3, 4]
      .map(
        (i) =>
          `    - { name: r${i}, scopes: ["hostile:budget"], effect: allow, condition: "context.l.all(x, x in context.l) && ${i} > 9" }`,
      )
      .join("\n");
    const budgetDoc = `apiVersion: tessera.dev/v1\nkind: Policy\nmetadata: { name: budget }\nspec:\n  rules:\n${heavy}\n`;
    await admin$(M.putPolicy, { document: budgetDoc, file: "budget.yaml" });
    const stored = {};
    for (const [name, [scope, condition]] of Object.entries(STORED)) {
      try {
        await admin$(M.putPolicy, { document: policy(name, scope, condition), file: `${name}.yaml` });
        stored[name] = "stored";
      } catch (err) {
        stored[name] = `refused at put: ${String(err.message).replace(/^\S+: /, "")}`;
      }
    }
    const authz = (message) => () => client.call(A.authorize, message, key);
    const validate = (condition) => () =>
      admin$(M.validatePolicy, { document: policy("v", "a:b", condition) });
    const l = { l: bigList };
    // Three lists in one 64 KiB message (the default TESSERA_MAX_MESSAGE_BYTES).
    const third = { l: list(150) };
    const batch = fromJson(AuthorizeBatchRequestSchema, {
      attributes: subject(),
      checks: Array.from({ length: 100 }, (_, i) => ({
        scope: "hostile:quadratic",
        resource: { kind: "tool", id: `t${i}` },
        context: { l: list(4) },
      })),
    });
    const cases = [
      [
        "ValidatePolicy: eight nested all() (issue #9)",
        validate(nested("all", "abcdefgh", "a + b + c + d + e + f + g + h >= 0")),
      ],
      [
        "ValidatePolicy: a constant list of 10^8 strings, eight map() deep",
        validate(nested("map", "abcdefgh", "string(a) + string(h)")),
      ],
      ["ValidatePolicy: three nested loops over request lists", validate(STORED.cubic[1])],
      [
        `Authorize: x in l for each x of a 255-item context list (${stored.quadratic})`,
        authz(authorize("hostile:quadratic", l)),
      ],
      [
        `Authorize: three nested loops over three 150-item lists (${stored.cubic})`,
        authz(authorize("hostile:cubic", third, third, third)),
      ],
      [
        `Authorize: strings built in a loop, 200 × 8 KiB (${stored.memory})`,
        authz(authorize("hostile:memory", { l: list(200), s: "y".repeat(4000) })),
      ],
      [
        `Authorize: a constant condition of 27,000 steps (${stored.constant})`,
        authz(authorize("hostile:constant")),
      ],
      [
        "Authorize: four quadratic rules on one scope (the decision's whole budget)",
        authz(authorize("hostile:budget", l)),
      ],
      [
        "AuthorizeBatch: 100 checks of the quadratic condition",
        () => client.call(A.authorizeBatch, batch, key),
      ],
      ["Authorize: the benchmark's plain request (for scale)", authz(req.authorizeAttributes())],
    ];
    console.log(`Tessera --workers 1, pid ${t.proc.pid}; ${REPS} calls per case after one warm-up\n`);
    console.log("| request | answer | CPU ms / call | wall ms / call | peak extra MiB |");
    console.log("|---|---|---:|---:|---:|");
    let worstCpu = 0;
    let worstMem = 0;
    for (const [what, call] of cases) {
      const r = await measure(t.proc.pid, call);
      worstCpu = Math.max(worstCpu, r.cpuMs);
      worstMem = Math.max(worstMem, r.extraMiB);
      console.log(
        `| ${what} | ${r.outcome} | ${r.cpuMs.toFixed(1)} | ${r.wallMs.toFixed(1)} | ${r.extraMiB.toFixed(1)} |`,
      );
    }
    console.log(
      `\nworst CPU ${worstCpu.toFixed(1)} ms per call (goal ≤ ${GOAL_CPU_MS}: ${worstCpu <= GOAL_CPU_MS ? "met" : "missed"}); worst peak extra memory ${worstMem.toFixed(1)} MiB (goal ≤ ${GOAL_MEM_MIB}: ${worstMem <= GOAL_MEM_MIB ? "met" : "missed"})`,
    );
  } finally {
    client?.close();
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
