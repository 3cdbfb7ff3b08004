import type { TesseraStore } from "../store/contract/store.js";
import { DecisionLog } from "./decision-log.js";
import type { DecisionLogDurability } from "./decision-log-options.js";
import type { DecisionSink } from "./decision-sink.js";
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
 * spill file in this process's data directory. Undefined when off (durability then means
 * nothing: no decision is recorded). With sync durability each commit is also made durable
 * (fsync'd on SQLite; the server's synchronous_commit on PostgreSQL), so an answered decision
 * survives a power loss as a spilled one does.
 */
export function openDecisionLog(
  store: Pick<TesseraStore, "dataDir" | "decisionSink">,
  settings: DecisionLogSettings,
  onError: (err: unknown) => void,
): DecisionLog | undefined {
  if (settings.decisionLog === false) return undefined;
  const fsyncEachCommit = settings.decisionLogDurability === "sync";
  return openDecisionLogWith(store.decisionSink({ fsyncEachCommit }), store.dataDir, settings, onError);
}

/**
 * The decision log over any sink, its spill file in `dataDir`; undefined when the log is off.
 * The queue, backpressure, durability and spilling are the same whatever the sink writes to;
 * making the sink honour sync durability (each commit durable) is the caller's part.
 */
export function openDecisionLogWith(
  sink: DecisionSink,
  dataDir: string,
  settings: DecisionLogSettings,
  onError: (err: unknown) => void,
): DecisionLog | undefined {
  if (settings.decisionLog === false) return undefined;
  return new DecisionLog(sink, {
    durability: settings.decisionLogDurability ?? "async",
    spill: new FileSpill(dataDir, { onError }),
    orgQuotaBytes: settings.decisionLogOrgQuotaBytes,
    orgQuotaWindowMs: seconds(settings.decisionLogOrgQuotaWindowSeconds),
    spillRetryMs: seconds(settings.decisionLogSpillRetrySeconds),
    onError,
  });
}
