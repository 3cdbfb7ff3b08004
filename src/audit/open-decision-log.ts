import type { DecisionRepository } from "../store/decisions.js";
import { DecisionLog } from "./decision-log.js";
import { directSink, threadSink } from "./decision-sink.js";
import { FileSpill } from "./decision-spill.js";

/** The decision-log settings the core passes on (see CoreSettings and Config for defaults). */
export interface DecisionLogSettings {
  readonly decisionLog?: boolean | undefined;
  readonly decisionLogOrgQuotaBytes?: number | undefined;
  readonly decisionLogOrgQuotaWindowSeconds?: number | undefined;
  readonly decisionLogSpillRetrySeconds?: number | undefined;
}

const seconds = (s: number | undefined) => (s === undefined ? undefined : s * 1000);

/**
 * The decision log over a data directory: a writer thread when the compiled one exists (else
 * the repository, on this thread) and a spill file beside the database. Undefined when off.
 */
export function openDecisionLog(
  dataDir: string,
  repo: DecisionRepository,
  settings: DecisionLogSettings,
  onError: (err: unknown) => void,
): DecisionLog | undefined {
  if (settings.decisionLog === false) return undefined;
  return new DecisionLog(threadSink(dataDir) ?? directSink(repo), {
    spill: new FileSpill(dataDir, { onError }),
    orgQuotaBytes: settings.decisionLogOrgQuotaBytes,
    orgQuotaWindowMs: seconds(settings.decisionLogOrgQuotaWindowSeconds),
    spillRetryMs: seconds(settings.decisionLogSpillRetrySeconds),
    onError,
  });
}
