import { TesseraError } from "../domain/errors.js";
import { LIMITS } from "../domain/limits.js";
import { DEFAULT_ROLES } from "../domain/roles.js";
import { epochSeconds } from "../domain/time.js";
import { mergeDocuments, rolesOf, runCheck, type Validated } from "../engine/check.js";
import { parsePolicyDocuments, splitDocuments } from "../engine/document.js";
import { type CompiledRevision, PolicyEngine, parseStored } from "../engine/engine.js";
import type { TestReport } from "../engine/policy-test.js";
import type { PolicyDocument } from "../engine/types.js";
import type { Async } from "../store/contract/async.js";
import type {
  CommitResult,
  PolicyChange,
  PolicyChangeRow,
  PolicyRepository,
  PolicySummaryRow,
} from "../store/policies.js";
import { reclaimAfterCompile } from "./heap.js";
import type { PolicyChecker } from "./policy-checker.js";

export interface PolicyDeps {
  readonly engine: PolicyEngine;
  readonly policies: Async<PolicyRepository>;
  /** Where candidate documents are parsed, compiled and tested: off the event loop, with a deadline. */
  readonly checker: PolicyChecker;
  readonly now: () => Date;
}

const MAX_DOCUMENT = LIMITS.policyTextBytes;

/** How a put is made: prune (the stored set becomes the text's documents) and who makes it. */
export interface PutOptions {
  readonly prune?: boolean | undefined;
  /** The caller as the history records it (AdminCaller.actor); never a secret. */
  readonly actor?: string | undefined;
}

/**
 * What a put did: the text's documents, and each one's fate (`same`: stored exactly so; with
 * prune, `removed`); `unchanged` when it made no revision, `revision` then the one in force.
 */
export type PutResult = CommitResult & { readonly names: string[] };

/** The set a revision is built on: a stored revision number and its parsed documents. */
interface Base {
  readonly revision: number;
  readonly documents: readonly PolicyDocument[];
}

/**
 * Policy lifecycle for one org. A candidate is checked whole (every condition parsed, costed
 * and probed) on the checker's thread before anything is written; the revision is then built
 * from the documents as stored inside the write transaction, so revision N is exactly what
 * every process compiles for N.
 */
export class PolicyAdmin {
  constructor(private readonly d: PolicyDeps) {}

  private nowSec(): number {
    return epochSeconds(this.d.now());
  }

  /** Refuses a text over the size limit before any parsing. */
  private sized(text: string, file: string): void {
    if (text.length > MAX_DOCUMENT)
      throw new TesseraError("POLICY_INVALID", "the policy text is larger than 4 MiB", { file });
  }

  /** The org's stored documents, for a check. */
  private async storedTexts(orgId: string): Promise<string[]> {
    return (await this.d.policies.snapshot(orgId)).documents.map((doc) => doc.document);
  }

  /**
   * Stores every document of a text as one new revision, all or none, and puts it in force;
   * with `prune` the revision also deletes every other stored document (the candidate is then
   * checked alone). Documents stored exactly so are left as they are, and a text that changes
   * nothing makes no revision.
   */
  async put(orgId: string, text: string, file = "<request>", opts: PutOptions = {}): Promise<PutResult> {
    this.sized(text, file);
    await this.d.checker.run({
      op: "validate",
      orgId,
      stored: opts.prune ? [] : await this.storedTexts(orgId),
      candidate: text,
      file,
    });
    return this.apply(orgId, text, file, opts);
  }

  /**
   * `put` for a text this server ships itself (the example policy of a development org):
   * checked inline, without waiting for the checker's thread to start.
   */
  async putTrusted(orgId: string, text: string, file: string): Promise<PutResult> {
    runCheck({ op: "validate", orgId, stored: await this.storedTexts(orgId), candidate: text, file });
    return this.apply(orgId, text, file, { actor: "server" });
  }

  /** Commits a checked text; its conditions compile lazily on first use, as on load. */
  private async apply(orgId: string, text: string, file: string, opts: PutOptions): Promise<PutResult> {
    let docs: PolicyDocument[] = [];
    const build = (stored: readonly PolicyDocument[]) => {
      const base = opts.prune ? [] : stored;
      docs = parsePolicyDocuments(text, file, { knownRoles: rolesOf(base), checkConditions: false });
      return PolicyEngine.compile(0, mergeDocuments(base, docs));
    };
    const sources = splitDocuments(text);
    const put = () =>
      docs.map((doc, i) => ({
        name: doc.name,
        document: sources[i] ?? text,
        kind: doc.kind ?? "Policy",
        ruleCount: doc.routeMap ? doc.routeMap.routes.length : doc.rules.length,
      }));
    const done = await this.commit(orgId, build, () => ({ put: put(), prune: opts.prune }), opts.actor);
    if (!done) throw new Error("a put removes nothing by name: it cannot miss");
    return { ...done, names: docs.map((doc) => doc.name) };
  }

  /** The roles an agent of the org may hold: the defaults, and the custom roles of the stored revision. */
  async knownRoles(orgId: string): Promise<ReadonlySet<string>> {
    return new Set([...DEFAULT_ROLES.keys(), ...rolesOf((await this.base(orgId)).documents)]);
  }

  /** Checks a text against the org's set; writes nothing. */
  async validate(orgId: string, text: string, file = "<request>"): Promise<Validated> {
    this.sized(text, file);
    const stored = await this.storedTexts(orgId);
    return (await this.d.checker.run({ op: "validate", orgId, stored, candidate: text, file })) as Validated;
  }

  async delete(orgId: string, name: string, actor?: string): Promise<number> {
    const notFound = () => new TesseraError("POLICY_NOT_FOUND", "no such policy in this org");
    if (!(await this.d.policies.get(orgId, name))) throw notFound();
    const build = (base: readonly PolicyDocument[]) =>
      PolicyEngine.compile(0, mergeDocuments(base, [], [name]));
    const done = await this.commit(orgId, build, () => ({ remove: [name] }), actor);
    if (done === undefined) throw notFound();
    return done.revision;
  }

  /**
   * Builds the candidate on the set in force when that is the stored one, else on the stored
   * set, and commits it; if another process committed in between, the transaction (holding
   * the write lock) rebuilds on the set it reads. Installs the result unless it changed
   * nothing; undefined when the store refused the change (a document to remove is gone).
   */
  private async commit(
    orgId: string,
    build: (base: readonly PolicyDocument[]) => CompiledRevision,
    change: () => PolicyChange,
    actor: string | undefined,
  ): Promise<CommitResult | undefined> {
    const base = await this.base(orgId);
    let compiled = build(base.documents);
    // The change itself (names, texts, rule counts) does not depend on the base.
    const meta = { now: this.nowSec(), actor };
    const committed = await this.d.policies.commit(orgId, change(), meta, (stored) => {
      if (stored.revision !== base.revision)
        compiled = build(
          parseStored(
            orgId,
            stored.named().map((doc) => doc.document),
          ),
        );
    });
    if (!committed || committed.unchanged) return committed;
    this.d.engine.installNewer(orgId, { ...compiled, number: committed.revision, digest: committed.digest });
    reclaimAfterCompile(compiled.index.ruleCount);
    return committed;
  }

  /**
   * The set to build on: the compiled one in force, when it is the stored revision compiled
   * from the stored documents (same number and digest: no parsing); else the stored set.
   */
  private async base(orgId: string): Promise<Base> {
    const current = this.d.engine.current(orgId);
    const state = await this.d.policies.state(orgId);
    if (state.revision === current.number && state.digest !== null && state.digest === current.digest)
      return { revision: current.number, documents: current.documents };
    const snap = await this.d.policies.snapshot(orgId);
    return {
      revision: snap.revision,
      documents: parseStored(
        orgId,
        snap.documents.map((doc) => doc.document),
      ),
    };
  }

  async get(orgId: string, name: string, revision?: number): Promise<{ revision: number; document: string }> {
    const found = await this.d.policies.get(orgId, name, revision);
    if (!found) throw new TesseraError("POLICY_NOT_FOUND", "no such policy in this org at that revision");
    return found;
  }

  async list(orgId: string): Promise<{ policies: PolicySummaryRow[]; revision: number }> {
    return { policies: await this.d.policies.list(orgId), revision: this.d.engine.revision(orgId) };
  }

  async history(orgId: string, name?: string): Promise<PolicyChangeRow[]> {
    return this.d.policies.history(orgId, name);
  }

  /** Runs PolicyTest suites against the stored policies, or a candidate change of them; applies nothing. */
  async test(orgId: string, tests: string, candidateText = ""): Promise<TestReport> {
    this.sized(tests, "<tests>");
    this.sized(candidateText, "<candidate>");
    const job = {
      op: "test",
      orgId,
      stored: await this.storedTexts(orgId),
      candidate: candidateText,
      file: "<candidate>",
    } as const;
    return (await this.d.checker.run({ ...job, tests, nowMs: this.d.now().getTime() })) as TestReport;
  }

  /** Stops the checker's thread (the server is shutting down). */
  close(): Promise<void> {
    return this.d.checker.close();
  }
}
