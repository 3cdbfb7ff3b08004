import type { DecisionRepository } from "../store/decisions.js";
import { DecisionLog } from "./decision-log.js";
import type { DecisionLogDurability } from "./decision-log-options.js";
import { directSink, threadSink } from "./decision-sink.js";
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
 * The decision log over a data directory: a writer thread when the compiled one exists (else
 * the repository, on this thread) and a spill file beside the database. Undefined when off
 * (durability then means nothing: no decision is recorded). With sync durability each commit is
 * also fsync'd, so an answered decision survives a power loss as a spilled one does.
 */
export function openDecisionLog(
  dataDir: string,
  repo: DecisionRepository,
  settings: DecisionLogSettings,
  onError: (err: unknown) => void,
): DecisionLog | undefined {
  if (settings.decisionLog === false) return undefined;
  const durability = settings.decisionLogDurability ?? "async";
  const fsyncEachCommit = durability === "sync";
  const thread = threadSink(dataDir, { fsyncEachCommit });
  if (!thread && fsyncEachCommit) repo.fsyncEachCommit();
  return new DecisionLog(thread ?? directSink(repo), {
    durability,
    spill: new FileSpill(dataDir, { onError }),
    orgQuotaBytes: settings.decisionLogOrgQuotaBytes,
    orgQuotaWindowMs: seconds(settings.decisionLogOrgQuotaWindowSeconds),
    spillRetryMs: seconds(settings.decisionLogSpillRetrySeconds),
    onError,
  });
}
