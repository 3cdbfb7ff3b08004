import type { DecisionRepository } from "../store/decisions.js";
import type { PgDecisionRepository } from "../store/postgres/decisions.js";
import { DecisionLog } from "./decision-log.js";
import type { DecisionLogDurability } from "./decision-log-options.js";
import { type DecisionSink, directSink, threadSink } from "./decision-sink.js";
import { FileSpill } from "./decision-spill.js";
import { pgDecisionSink } from "./pg-decision-sink.js";

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
  const fsyncEachCommit = settings.decisionLogDurability === "sync";
  const thread = threadSink(dataDir, { fsyncEachCommit });
  if (!thread && fsyncEachCommit) repo.fsyncEachCommit();
  return openDecisionLogWith(thread ?? directSink(repo), dataDir, settings, onError);
}

/**
 * The decision log over a PostgreSQL database: batches written on the event loop (see
 * pgDecisionSink), the spill file in the data directory as with SQLite. With sync durability
 * each batch commits as the server's synchronous_commit says (else with it off; see
 * PgDecisionRepository).
 */
export function openPgDecisionLog(
  dataDir: string,
  repo: PgDecisionRepository,
  settings: DecisionLogSettings,
  onError: (err: unknown) => void,
): DecisionLog | undefined {
  if (settings.decisionLog === false) return undefined;
  if (settings.decisionLogDurability === "sync") repo.fsyncEachCommit();
  return openDecisionLogWith(pgDecisionSink(repo), dataDir, settings, onError);
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
