import { TesseraError } from "../domain/errors.js";
import { LIMITS } from "../domain/limits.js";
import { epochSeconds } from "../domain/time.js";
import { parsePolicyDocuments, splitDocuments } from "../engine/document.js";
import { type CompiledRevision, PolicyEngine } from "../engine/engine.js";
import { parsePolicyTests, runPolicyTests, type TestReport } from "../engine/policy-test.js";
import type { PolicyDocument } from "../engine/types.js";
import type { PolicyChangeRow, PolicyRepository, PolicySummaryRow } from "../store/policies.js";
import { reclaimAfterCompile } from "./heap.js";

export interface PolicyDeps {
  readonly engine: PolicyEngine;
  readonly policies: PolicyRepository;
  readonly now: () => Date;
}

const MAX_DOCUMENT = LIMITS.policyTextBytes;

/** Policy lifecycle for one org: every change is compiled whole before anything is written. */
export class PolicyAdmin {
  constructor(private readonly d: PolicyDeps) {}

  private nowSec(): number {
    return epochSeconds(this.d.now());
  }

  /** Parses a text against the org's custom roles; throws POLICY_INVALID. */
  private parse(orgId: string, text: string, file: string): PolicyDocument[] {
    if (text.length > MAX_DOCUMENT)
      throw new TesseraError("POLICY_INVALID", "the policy text is larger than 4 MiB", { file });
    const knownRoles = this.d.engine
      .current(orgId)
      .documents.flatMap((doc) => [...(doc.roles?.keys() ?? [])]);
    return parsePolicyDocuments(text, file, { knownRoles });
  }

  /** The org's set with `changed` replacing documents of the same name, and `removed` dropped, compiled. */
  private candidate(
    orgId: string,
    changed: readonly PolicyDocument[],
    removed: readonly string[] = [],
  ): CompiledRevision {
    const replaced = new Set([...changed.map((d) => d.name), ...removed]);
    const kept = this.d.engine.current(orgId).documents.filter((d) => !replaced.has(d.name));
    return PolicyEngine.compile(this.d.engine.revision(orgId), [...kept, ...changed]);
  }

  /** Stores every document of a text as one new revision, all or none, and puts it in force. */
  put(orgId: string, text: string, file = "<request>"): { names: string[]; revision: number } {
    const docs = this.parse(orgId, text, file);
    const compiled = this.candidate(orgId, docs);
    const sources = splitDocuments(text);
    const writes = docs.map((doc, i) => ({
      name: doc.name,
      document: sources[i] ?? text,
      ruleCount: doc.rules.length,
    }));
    const revision = this.d.policies.put(orgId, writes, this.nowSec());
    this.d.engine.installCompiled(orgId, { ...compiled, number: revision });
    reclaimAfterCompile(compiled.index.ruleCount);
    return { names: docs.map((d) => d.name), revision };
  }

  /** Checks a text against the org's set; writes nothing. */
  validate(orgId: string, text: string, file = "<request>"): { names: string[]; ruleCount: number } {
    const docs = this.parse(orgId, text, file);
    this.candidate(orgId, docs);
    return { names: docs.map((d) => d.name), ruleCount: docs.reduce((n, d) => n + d.rules.length, 0) };
  }

  delete(orgId: string, name: string): number {
    if (!this.d.policies.get(orgId, name))
      throw new TesseraError("POLICY_NOT_FOUND", "no such policy in this org");
    const compiled = this.candidate(orgId, [], [name]);
    const revision = this.d.policies.delete(orgId, name, this.nowSec());
    if (revision === undefined) throw new TesseraError("POLICY_NOT_FOUND", "no such policy in this org");
    this.d.engine.installCompiled(orgId, { ...compiled, number: revision });
    reclaimAfterCompile(compiled.index.ruleCount);
    return revision;
  }

  get(orgId: string, name: string, revision?: number): { revision: number; document: string } {
    const found = this.d.policies.get(orgId, name, revision);
    if (!found) throw new TesseraError("POLICY_NOT_FOUND", "no such policy in this org at that revision");
    return found;
  }

  list(orgId: string): { policies: PolicySummaryRow[]; revision: number } {
    return { policies: this.d.policies.list(orgId), revision: this.d.engine.revision(orgId) };
  }

  history(orgId: string, name?: string): PolicyChangeRow[] {
    return this.d.policies.history(orgId, name);
  }

  /** Runs PolicyTest suites against the policies in force, or a candidate change of them; applies nothing. */
  test(orgId: string, tests: string, candidateText = ""): TestReport {
    const suites = parsePolicyTests(tests, "<tests>");
    if (suites.length === 0)
      throw new TesseraError("POLICY_INVALID", "no PolicyTest document found", { file: "<tests>" });
    const rev = candidateText.trim()
      ? this.candidate(orgId, this.parse(orgId, candidateText, "<candidate>"))
      : this.d.engine.current(orgId);
    return runPolicyTests(rev, suites, orgId, this.d.now().getTime());
  }
}
