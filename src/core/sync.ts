import type { BoundIdentities } from "../auth/bound-identities.js";
import type { OrgCredentials } from "../auth/org-credentials.js";
import type { PolicyEngine } from "../engine/engine.js";
import type { Change } from "../store/changes.js";
import type { Store } from "../store/store.js";
import { refreshPolicy, verifyPolicies } from "./policy-sync.js";

/** An in-memory copy that can compare itself with the store and repair itself; true when it had to. */
export interface Verifiable {
  verify(): boolean;
}

export interface SyncTargets {
  readonly engine: PolicyEngine;
  readonly credentials: OrgCredentials;
  /** mTLS identity bindings; reloaded when another process binds, unbinds or unassigns. */
  readonly identities?: BoundIdentities | undefined;
  /** Revocations and suspensions: compared with the store every few seconds, repaired if they drifted. */
  readonly liveness?: Verifiable | undefined;
  /** Other in-memory copies checked the same way (cross-org trusts, identity bindings). */
  readonly verifiable?: readonly Verifiable[] | undefined;
  /** Extra appliers for kinds other modules own (revocations, suspensions, keys). */
  readonly others?: Partial<Record<Change["kind"], (change: Change) => void | Promise<void>>>;
}

/** Ticks between two comparisons of every compiled policy revision with the store (about a second). */
const POLICY_CHECK_TICKS = 40;
/** Ticks between two comparisons of the revocation and suspension state with the store (about 5 s). */
const LIVENESS_CHECK_TICKS = 200;

export interface SyncOptions {
  /** How often to poll the change log. Default 25 ms, so every process converges well within 100 ms. */
  readonly intervalMs?: number;
  /**
   * The change-log position to apply from: the one taken *before* this process loaded its
   * state, so a change committed while it loaded is applied, never skipped. Default: now.
   */
  readonly from?: number | undefined;
  readonly onError?: ((err: unknown) => void) | undefined;
}

/**
 * Keeps this process's in-memory state (compiled policies, credential cache, …) in step with
 * changes other processes write to the same database, by polling the change log off the hot
 * path. Returns a function that stops it.
 */
export function startSync(store: Store, targets: SyncTargets, opts: SyncOptions = {}): () => void {
  let seen = opts.from ?? store.changes.latest();
  let running = false;
  let ticks = 0;
  const apply = async (c: Change): Promise<void> => {
    if (c.kind === "policy" && c.orgId) {
      // A change this process made is already in force; recompile only when the store differs.
      refreshPolicy(store.policies, targets.engine, c.orgId);
    } else if (c.kind === "credential") {
      targets.credentials.invalidate();
    } else if (c.kind === "identity") {
      targets.identities?.reload();
    }
    await targets.others?.[c.kind]?.(c);
  };
  const tick = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
      for (const c of store.changes.since(seen)) {
        await apply(c);
        seen = c.seq;
      }
      if (++ticks % POLICY_CHECK_TICKS === 0) verifyPolicies(store.policies, targets.engine);
      if (ticks % LIVENESS_CHECK_TICKS === 0)
        for (const v of [targets.liveness, ...(targets.verifiable ?? [])]) v?.verify();
      if (ticks % 2400 === 0) store.changes.prune(3600); // about once a minute
    } catch (err) {
      opts.onError?.(err);
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), opts.intervalMs ?? 25);
  timer.unref();
  return () => clearInterval(timer);
}
