import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseDocument } from "yaml";
import { DOCUMENT_KINDS, kindOf, parseDocumentSet, splitDocuments } from "../engine/document.js";
import { type CompiledRevision, PolicyEngine } from "../engine/engine.js";
import {
  type PolicyTestSuite,
  parsePolicyTests,
  runPolicyTests,
  type TestFailure,
  type TestReport,
} from "../engine/policy-test.js";
import type { PolicyDocument } from "../engine/types.js";
import { UsageError } from "./output.js";
import type { TraceLine } from "./trace.js";

/** The YAML files at a path: the file itself, or a directory's *.yaml/*.yml (recursively), in name order. */
export function yamlFiles(path: string): string[] {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(path);
  } catch {
    throw new UsageError(`no such file or directory: ${path}`);
  }
  if (!stat.isDirectory()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => {
      const full = join(path, e.name);
      if (e.isDirectory()) return yamlFiles(full);
      return /\.ya?ml$/.test(e.name) ? [full] : [];
    });
}

/** Every file's text at the given paths. */
export function readTexts(paths: readonly string[]): { text: string; file: string }[] {
  return paths.flatMap(yamlFiles).map((file) => ({ file, text: readFileSync(file, "utf8") }));
}

/** One document of a file, with its kind and name as written. */
interface LocalDocument {
  readonly file: string;
  readonly text: string;
  readonly kind: unknown;
  readonly name: string;
}

function documentsAt(paths: readonly string[]): LocalDocument[] {
  return readTexts(paths).flatMap((t) =>
    splitDocuments(t.text).map((text) => {
      const contents = parseDocument(text).toJS() as { kind?: unknown; metadata?: { name?: unknown } } | null;
      const name = contents?.metadata?.name;
      return { file: t.file, text, kind: contents?.kind, name: typeof name === "string" ? name : "" };
    }),
  );
}

/** The Policy and RouteMap documents (not PolicyTest ones) at the paths, each as its own text with its name and file. */
export function localPolicies(paths: readonly string[]): LocalDocument[] {
  return documentsAt(paths).filter((d) => DOCUMENT_KINDS.has(d.kind));
}

/** The Policy and RouteMap documents (not PolicyTest ones) among the files at the paths, each as its own text. */
export function policyTexts(paths: readonly string[]): string[] {
  return readTexts(paths).flatMap((t) =>
    splitDocuments(t.text).filter((doc) => DOCUMENT_KINDS.has(kindOf(parseDocument(doc).contents))),
  );
}

/** Parses and compiles the Policy and RouteMap documents at the paths as one set; throws POLICY_INVALID. */
export function compileLocal(paths: readonly string[]): {
  documents: PolicyDocument[];
  compiled: CompiledRevision;
} {
  const documents = parseDocumentSet(readTexts(paths), { skipOtherKinds: true });
  if (documents.length === 0) throw new UsageError(`no Policy document in ${paths.join(", ")}`);
  return { documents, compiled: PolicyEngine.compile(0, documents) };
}

/** The PolicyTest suites at the paths, parsed (POLICY_INVALID naming file:line:col); a usage error when there are none. */
export function localSuites(paths: readonly string[]): { suites: PolicyTestSuite[]; text: string } {
  const texts = readTexts(paths);
  const suites = texts.flatMap((t) => parsePolicyTests(t.text, t.file));
  if (suites.length === 0) throw new UsageError(`no PolicyTest document in ${paths.join(", ")}`);
  const tests = documentsAt(paths).filter((d) => d.kind === "PolicyTest");
  return { suites, text: tests.map((d) => d.text).join("---\n") };
}

/** A failed case with every candidate rule's outcome (run here, or told by the server). */
export interface TracedFailure extends Omit<TestFailure, "trace"> {
  readonly trace?: readonly TraceLine[] | undefined;
}

export interface TracedReport extends Omit<TestReport, "failures"> {
  readonly failures: readonly TracedFailure[];
}

/** Runs the PolicyTest suites at `tests` against the policies at `policies`, with no server; failures carry traces. */
export function testLocal(policies: readonly string[], tests: readonly string[]): TracedReport {
  const { compiled } = compileLocal(policies);
  const { suites } = localSuites(tests);
  // Failures carry their traces: the engine explains every case that fails.
  return runPolicyTests(compiled, suites, "local", Date.now());
}
