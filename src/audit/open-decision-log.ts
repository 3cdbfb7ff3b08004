import type { TesseraStore } from "../store/contract/store.js";
import { DecisionLog } from "./decision-log.js";
import type { DecisionLogDurability } from "./decision-log-options.js";
import { FileSpill } from "./decision-spill.js";

/** The decision-log settings the core passes on (see CoreSettings and Config for defaults). */
export interface DecisionLogSettings {
  readonly decisionLog?: boolean | undefined;
  readonly decisionLogDurability?: DecisionLogDurability | undefined;
  readonly decisionLogOrgQuotaBytes?: number | undefined;
  readonly decisionLogOrgQuotaWindowSeconds?: number | undefined;
  readonly decisionLogSpillRetrySeconds?: number | undefined;
}

const seconds = (s: number | undefined) => (s === undefined ? undefined : s * 1000);

/**
 * The decision log over a store: its sink (SQLite's writer thread, or PostgreSQL's pool) and a
 * spill file in this process's data directory. Undefined when off
 * (durability then means nothing: no decision is recorded). With sync durability each commit is
 * also fsync'd, so an answered decision survives a power loss as a spilled one does.
 */
export function openDecisionLog(
  store: Pick<TesseraStore, "dataDir" | "decisionSink">,
  settings: DecisionLogSettings,
  onError: (err: unknown) => void,
): DecisionLog | undefined {
  if (settings.decisionLog === false) return undefined;
  const durability = settings.decisionLogDurability ?? "async";
  const fsyncEachCommit = durability === "sync";
  return new DecisionLog(store.decisionSink({ fsyncEachCommit }), {
    durability,
    spill: new FileSpill(store.dataDir, { onError }),
    orgQuotaBytes: settings.decisionLogOrgQuotaBytes,
    orgQuotaWindowMs: seconds(settings.decisionLogOrgQuotaWindowSeconds),
    spillRetryMs: seconds(settings.decisionLogSpillRetrySeconds),
    onError,
  });
}
