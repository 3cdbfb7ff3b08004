import type { Config } from "../config/config.js";
import type { Check, CheckEnv, Finding } from "./check.js";
import { CHECKS } from "./checks/index.js";

/** How one check came out: `fail` only for a fatal check in production mode. */
export type Status = "pass" | "warn" | "fail";

export interface CheckResult {
  readonly id: string;
  readonly title: string;
  readonly severity: Check["severity"];
  readonly status: Status;
  readonly findings: readonly Finding[];
}

export interface Checklist {
  readonly mode: Config["mode"];
  /** False when any check failed (production mode only). */
  readonly ok: boolean;
  readonly checks: readonly CheckResult[];
}

/** A check that could not run (a store it cannot read…) counts as a finding of its own. */
function runOne(check: Check, config: Config, env: CheckEnv): readonly Finding[] {
  try {
    return check.run(config, env);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return [{ code: "PROD_CHECK_ERROR", message: `the check ${check.id} could not run: ${why}` }];
  }
}

/**
 * Runs every check against a configuration, starting nothing. In production mode a fatal
 * check's findings fail it; in development mode they are warnings.
 */
export function runChecklist(config: Config, env: CheckEnv, checks: readonly Check[] = CHECKS): Checklist {
  const results = checks.map((check): CheckResult => {
    const findings = runOne(check, config, env);
    const fatal = check.severity === "fatal" && config.mode === "production";
    const status: Status = findings.length === 0 ? "pass" : fatal ? "fail" : "warn";
    return { id: check.id, title: check.title, severity: check.severity, status, findings };
  });
  return { mode: config.mode, ok: results.every((r) => r.status !== "fail"), checks: results };
}

/** Every failed finding, in checklist order. */
export function failures(list: Checklist): Finding[] {
  return list.checks.filter((c) => c.status === "fail").flatMap((c) => c.findings);
}

const MARK: Record<Status, string> = { pass: "PASS", warn: "WARN", fail: "FAIL" };

/** The checklist as lines for a person: each check with its status, then each finding under it. */
export function formatChecklist(list: Checklist): string {
  const lines = [`Production checklist (mode: ${list.mode})`];
  for (const c of list.checks) {
    lines.push(`  ${MARK[c.status]}  ${c.id}: ${c.title}`);
    for (const f of c.findings) lines.push(`        ${f.code}: ${f.message}`);
  }
  const count = (s: Status) => list.checks.filter((c) => c.status === s).length;
  lines.push(`${count("pass")} passed, ${count("warn")} warned, ${count("fail")} failed`);
  if (list.mode === "development" && count("warn") > 0)
    lines.push(
      "(development mode: nothing is fatal; with --mode production the warnings of fatal checks fail)",
    );
  return lines.join("\n");
}
