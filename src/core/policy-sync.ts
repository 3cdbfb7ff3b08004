import { PolicyEngine, parseStored } from "../engine/engine.js";
import type { Async } from "../store/contract/async.js";
import type { PolicyRepository } from "../store/policies.js";
import { reclaimAfterCompile } from "./heap.js";

/** An org's policy state as stored: its revision and that revision's digest (null before digests were stored). */
interface StoredState {
  readonly revision: number;
  readonly digest: string | null;
}

/**
 * Brings one org's compiled policy in line with the store: recompiles when the stored
 * revision is newer than the one in force, or is the same number with another digest (a
 * process that compiled N from other documents than those stored as N). True when it did.
 */
export async function refreshPolicy(
  policies: Async<PolicyRepository>,
  engine: PolicyEngine,
  orgId: string,
  known?: StoredState,
): Promise<boolean> {
  const state = known ?? (await policies.state(orgId));
  const current = engine.current(orgId);
  if (state.revision < current.number) return false;
  if (state.revision === current.number && (state.digest === null || state.digest === current.digest))
    return false;
  const snap = await policies.snapshot(orgId);
  const texts = snap.documents.map((doc) => doc.document);
  const installed = engine.installNewer(
    orgId,
    PolicyEngine.compile(snap.revision, parseStored(orgId, texts), snap.digest),
  );
  if (installed) reclaimAfterCompile(engine.current(orgId).index.ruleCount);
  return installed;
}

/**
 * Compares every org's compiled revision with the store (one query: a number and a digest per
 * org) and repairs those that differ; returns how many it recompiled. Changes normally arrive
 * through the change log; this catches a revision compiled from the wrong documents, or a
 * change the log no longer holds.
 */
export async function verifyPolicies(
  policies: Async<PolicyRepository>,
  engine: PolicyEngine,
): Promise<number> {
  let repaired = 0;
  for (const s of await policies.states()) if (await refreshPolicy(policies, engine, s.orgId, s)) repaired++;
  return repaired;
}
