import type { BoundIdentities } from "../auth/bound-identities.js";
import type { OrgCredentials } from "../auth/org-credentials.js";
import type { PolicyEngine } from "../engine/engine.js";
import type { Change } from "../store/changes.js";
import type { TesseraStore } from "../store/contract/store.js";
import { refreshPolicy, verifyPolicies } from "./policy-sync.js";

/** An in-memory copy that can compare itself with the store and repair itself; true when it had to. */
export interface Verifiable {
  verify(): boolean | Promise<boolean>;
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

export interface SyncOptions {
  /**
   * How often to read the change log when nothing wakes this process earlier. Default 25 ms
   * on a store without notifications (SQLite), so every process converges well within 100 ms;
   * 250 ms where the store wakes it on every change (PostgreSQL's NOTIFY), as a backstop.
   */
  readonly intervalMs?: number;
  /**
   * The change-log position to apply from: the one taken *before* this process loaded its
   * state, so a change committed while it loaded is applied, never skipped. Default: now.
   */
  readonly from?: number | undefined;
  readonly onError?: ((err: unknown) => void) | undefined;
  /**
   * How long the store may go unread before this process calls itself stale (it keeps deciding
   * from memory, but says NOT_SERVING so a load balancer prefers a current replica). Default 10 s.
   */
  readonly maxStalenessMs?: number | undefined;
  /** Told when this process becomes stale (false) and current again (true). */
  readonly onFreshness?: ((fresh: boolean) => void) | undefined;
}

/** A running sync: stop it, or ask how current this process is. */
export interface SyncHandle {
  stop(): void;
  /** Milliseconds since the change log was last read in full. */
  stalenessMs(): number;
}

/**
 * How often each periodic job runs, whatever wakes the loop (timer or notification): comparing
 * every compiled policy revision with the store, comparing the revocation and suspension state
 * (and the other verifiable copies) with it, and pruning the change log.
 */
const POLICY_CHECK_MS = 1000;
const LIVENESS_CHECK_MS = 5000;
const PRUNE_CHANGES_MS = 60_000;

/**
 * Keeps this process's in-memory state (compiled policies, credentials, …) in step with changes
 * other processes write to the same database, off the hot path: it reads the change log after
 * `seen` on a timer and whenever the store says a change committed (PostgreSQL's NOTIFY). A
 * notification is only a wake-up; the table is the truth, so one missed during a reconnect is
 * caught up on the next read.
 */
export function startSync(store: TesseraStore, targets: SyncTargets, opts: SyncOptions = {}): SyncHandle {
  let seen = opts.from;
  let running = false;
  let again = false;
  const started = Date.now();
  const lastRun = { policies: started, liveness: started, prune: started };
  /** True (and noted) when `job` last ran at least `everyMs` ago. */
  const due = (job: keyof typeof lastRun, everyMs: number): boolean => {
    const now = Date.now();
    if (now - lastRun[job] < everyMs) return false;
    lastRun[job] = now;
    return true;
  };
  let lastRead = Date.now();
  let fresh = true;
  let lastReported = 0;
  const maxStaleness = opts.maxStalenessMs ?? 10_000;
  const apply = async (c: Change): Promise<void> => {
    if (c.kind === "policy" && c.orgId) {
      // A change this process made is already in force; recompile only when the store differs.
      await refreshPolicy(store.policies, targets.engine, c.orgId);
    } else if (c.kind === "credential") {
      await targets.credentials.reload();
    } else if (c.kind === "identity") {
      await targets.identities?.reload();
    }
    await targets.others?.[c.kind]?.(c);
  };
  const tick = async (): Promise<void> => {
    if (running) {
      again = true; // woken while reading: read once more after, so nothing waits for the timer
      return;
    }
    running = true;
    try {
      do {
        again = false;
        seen ??= await store.changes.latest();
        for (;;) {
          const batch = await store.changes.since(seen);
          for (const c of batch) {
            await apply(c);
            seen = c.seq;
          }
          if (batch.length < 1000) break;
        }
        lastRead = Date.now();
        lastReported = 0;
      } while (again);
      if (due("policies", POLICY_CHECK_MS)) await verifyPolicies(store.policies, targets.engine);
      if (due("liveness", LIVENESS_CHECK_MS))
        for (const v of [targets.liveness, ...(targets.verifiable ?? [])]) await v?.verify();
      if (due("prune", PRUNE_CHANGES_MS)) await store.changes.prune(3600);
    } catch (err) {
      // A database that is down fails every tick: say so once, then every half minute.
      const now = Date.now();
      if (now - lastReported >= 30_000) {
        lastReported = now;
        opts.onError?.(err);
      }
    } finally {
      running = false;
      checkFreshness();
    }
  };
  // Checked on every timer tick too: a read that hangs on a lost connection must not hide it.
  const checkFreshness = () => {
    const nowFresh = Date.now() - lastRead <= maxStaleness;
    if (nowFresh === fresh) return;
    fresh = nowFresh;
    opts.onFreshness?.(fresh);
  };
  const watch = store.watchChanges?.(
    () => void tick(),
    (up) => {
      if (up) void tick(); // reconnected: catch up on whatever was missed meanwhile
    },
  );
  const timer = setInterval(
    () => {
      checkFreshness();
      void tick();
    },
    opts.intervalMs ?? (watch ? 250 : 25),
  );
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      watch?.stop();
    },
    stalenessMs: () => Date.now() - lastRead,
  };
}
