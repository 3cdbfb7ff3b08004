import { epochSeconds } from "../domain/time.js";
import type { TesseraStore } from "../store/contract/store.js";
import type { Liveness } from "./liveness.js";

export interface MaintenanceSettings {
  /** How long a deleted agent's tokens can outlive it: max token lifetime plus clock tolerance. */
  readonly tombstoneSeconds: number;
  /** Decisions older than this are deleted; 0 keeps them forever. */
  readonly decisionRetentionSeconds: number;
}

/**
 * One pass of housekeeping: the store forgets rows past their use, and this process's
 * in-memory revocations and tombstones follow. Safe to run in every process at once (every
 * delete is idempotent and batched).
 */
export async function runMaintenance(
  store: TesseraStore,
  liveness: Liveness,
  s: MaintenanceSettings,
  now: () => Date,
): Promise<Record<string, number>> {
  const deleted = await store.prune({
    nowSec: epochSeconds(now()),
    tombstoneSeconds: s.tombstoneSeconds,
    decisionSeconds: s.decisionRetentionSeconds,
  });
  liveness.prune();
  return deleted;
}

/**
 * Runs maintenance every `intervalMs` (first after a random part of it, so processes started
 * together do not all prune at once). Returns a function that stops it.
 */
export function startMaintenance(
  run: () => Promise<unknown>,
  onError: ((err: unknown) => void) | undefined,
  intervalMs = 5 * 60_000,
): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = (delay: number) => {
    timer = setTimeout(() => {
      run()
        .catch((err: unknown) => onError?.(err))
        .finally(() => {
          if (!stopped) schedule(intervalMs);
        });
    }, delay);
    timer.unref();
  };
  schedule(Math.floor(intervalMs * (0.1 + 0.4 * Math.random())));
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
