import { TesseraError } from "../domain/errors.js";
import { parsePolicyDocuments } from "./document.js";
import { type CompiledRevision, PolicyEngine, parseStored } from "./engine.js";
import { parsePolicyTests, runPolicyTests, type TestReport } from "./policy-test.js";
import type { PolicyDocument } from "./types.js";

/**
 * A policy check to run away from the event loop (core/policy-checker.ts): plain data, so it
 * can be posted to a worker thread. Everything it needs travels with it.
 */
export interface CheckJob {
  readonly op: "validate" | "test";
  readonly orgId: string;
  /** The org's stored documents (validated when they were put). */
  readonly stored: readonly string[];
  /** The candidate text; for `test`, "" tests the stored set as it is. */
  readonly candidate: string;
  /** The candidate's file name, for error positions. */
  readonly file: string;
  /** For `test`: the PolicyTest suites. */
  readonly tests?: string | undefined;
  /** For `test`: the time conditions see when a case gives none. */
  readonly nowMs?: number | undefined;
}

/** What `validate` answers. */
export interface Validated {
  readonly names: string[];
  readonly ruleCount: number;
}

/** The custom role names a set of documents defines. */
export function rolesOf(documents: readonly PolicyDocument[]): string[] {
  return documents.flatMap((doc) => [...(doc.roles?.keys() ?? [])]);
}

/** `base` with `changed` replacing documents of the same name, and `removed` dropped. */
export function mergeDocuments(
  base: readonly PolicyDocument[],
  changed: readonly PolicyDocument[],
  removed: readonly string[] = [],
): PolicyDocument[] {
  const replaced = new Set([...changed.map((d) => d.name), ...removed]);
  return [...base.filter((d) => !replaced.has(d.name)), ...changed];
}

/**
 * Parses a candidate text against a base set, checking every condition (and its cost), and
 * compiles the set it would make. Throws POLICY_INVALID or POLICY_TOO_COMPLEX.
 */
function candidateOf(base: readonly PolicyDocument[], text: string, file: string) {
  const docs = parsePolicyDocuments(text, file, { knownRoles: rolesOf(base) });
  return { docs, compiled: PolicyEngine.compile(0, mergeDocuments(base, docs)) };
}

function validate(job: CheckJob): Validated {
  const { docs } = candidateOf(parseStored(job.orgId, job.stored), job.candidate, job.file);
  return { names: docs.map((d) => d.name), ruleCount: docs.reduce((n, d) => n + d.rules.length, 0) };
}

function test(job: CheckJob): TestReport {
  const suites = parsePolicyTests(job.tests ?? "", "<tests>");
  if (suites.length === 0)
    throw new TesseraError("POLICY_INVALID", "no PolicyTest document found", { file: "<tests>" });
  const base = parseStored(job.orgId, job.stored);
  const rev: CompiledRevision = job.candidate.trim()
    ? candidateOf(base, job.candidate, job.file).compiled
    : PolicyEngine.compile(0, base);
  return runPolicyTests(rev, suites, job.orgId, job.nowMs ?? 0);
}

/** Runs a check. Pure: parses, compiles, decides; writes and installs nothing. */
export function runCheck(job: CheckJob): Validated | TestReport {
  return job.op === "validate" ? validate(job) : test(job);
}
