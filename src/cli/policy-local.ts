import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseDocument } from "yaml";
import { kindOf, parseDocumentSet, splitDocuments } from "../engine/document.js";
import { type CompiledRevision, PolicyEngine } from "../engine/engine.js";
import { parsePolicyTests, runPolicyTests, type TestReport } from "../engine/policy-test.js";
import type { PolicyDocument } from "../engine/types.js";
import { UsageError } from "./output.js";

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

/** The Policy documents (not PolicyTest ones) among the files at the paths, each as its own text. */
export function policyTexts(paths: readonly string[]): string[] {
  return readTexts(paths).flatMap((t) =>
    splitDocuments(t.text).filter((doc) => kindOf(parseDocument(doc).contents) === "Policy"),
  );
}

/** Parses and compiles the Policy documents at the paths as one set; throws POLICY_INVALID. */
export function compileLocal(paths: readonly string[]): {
  documents: PolicyDocument[];
  compiled: CompiledRevision;
} {
  const documents = parseDocumentSet(readTexts(paths), { skipOtherKinds: true });
  return { documents, compiled: PolicyEngine.compile(0, documents) };
}

/** Runs the PolicyTest suites at `tests` against the policies at `policies`, with no server. */
export function testLocal(policies: readonly string[], tests: readonly string[]): TestReport {
  const { compiled } = compileLocal(policies);
  const suites = readTexts(tests).flatMap((t) => parsePolicyTests(t.text, t.file));
  if (suites.length === 0) throw new UsageError("no PolicyTest document found");
  return runPolicyTests(compiled, suites, "local", Date.now());
}
