import type { Command } from "commander";
import { clientsFor, type GlobalOptions, wantsJson } from "../common.js";
import { EXIT, emit, UsageError } from "../output.js";
import type { TracedFailure, TracedReport } from "../policy-local.js";
import { traceJson, traceLines } from "../trace.js";

interface TestOptions {
  policies?: string;
  tests?: string;
}

function failureLines(f: TracedFailure): string[] {
  const head = `FAIL ${f.suite} › ${f.case}: expected ${f.expected}, got ${f.actual} (${f.reason}${f.rule ? ` by ${f.rule}` : ""})`;
  return f.trace ? [head, ...traceLines(f.trace, "    ")] : [head];
}

/** Prints a report; `server` says it ran on the server, and with which candidates if any. */
function print(json: boolean, report: TracedReport, server?: { candidates?: string }): void {
  const failures = report.failures.map((f) => ({
    ...f,
    ...(f.trace ? { trace: f.trace.map(traceJson) } : {}),
  }));
  const with_ = server?.candidates ? `, with ${server.candidates} as candidates` : "";
  const on = server ? ` (on the server${with_})` : "";
  const ran = server
    ? { ran: "server", ...(server.candidates ? { candidates: server.candidates } : {}) }
    : { ran: "local" };
  emit(json, { ...report, failures, ...ran }, () =>
    [...report.failures.flatMap(failureLines), `${report.passed} passed, ${report.failed} failed${on}`].join(
      "\n",
    ),
  );
  if (report.failed > 0) process.exitCode = EXIT.failed;
}

/**
 * On the server (TestPolicy): the local suites against the org's stored policies, or against
 * them with the local --policies files as candidates replacing the stored ones of the same name.
 */
async function onServer(cmd: Command, tests: string, policies: string | undefined): Promise<void> {
  const { localPolicies, localSuites, policyTexts } = await import("../policy-local.js");
  const { text } = localSuites([tests]);
  if (!policies && localPolicies([tests]).length > 0)
    process.stderr.write(
      `note: the Policy documents in ${tests} are not sent; give --policies ${tests} to test them as candidates\n`,
    );
  const candidate = policies ? policyTexts([policies]) : [];
  if (policies && candidate.length === 0) throw new UsageError(`no Policy document in ${policies}`);
  const { clients, json } = await clientsFor(cmd);
  const res = await clients.admin.testPolicy(
    { tests: text, candidate: candidate.join("---\n") },
    { headers: clients.adminHeaders() },
  );
  const failures = res.failures.map((f) => ({ ...f, trace: f.trace }));
  const report = { passed: res.passed, failed: res.failed, failures };
  print(json, report, policies ? { candidates: policies } : {});
}

/** `tessera policy test [path]`: PolicyTest suites, locally (default) or on the server (--server). */
export function registerPolicyTest(policy: Command): void {
  policy
    .command("test [path]")
    .description(
      "run PolicyTest suites: locally against policy files (default), or with --server against the org's stored policies; exits 1 if any case fails, printing each failing case's rule trace",
    )
    .option(
      "--policies <path>",
      "policy files (default: <path>); with --server, candidates for the stored ones",
    )
    .option("--tests <path>", "PolicyTest files (default: <path>)")
    .action(async (path: string | undefined, o: TestOptions, cmd: Command) => {
      const remote = cmd.optsWithGlobals<GlobalOptions>().server !== undefined;
      const tests = o.tests ?? path;
      if (remote) {
        if (!tests) throw new UsageError("give a path, or --tests");
        return onServer(cmd, tests, o.policies);
      }
      const policies = o.policies ?? path;
      if (!policies || !tests) throw new UsageError("give a path, or --policies and --tests");
      const { testLocal } = await import("../policy-local.js");
      print(wantsJson(cmd), testLocal([policies], [tests]));
    });
}
