import type { Tessera } from "../core/tessera.js";
import type { CallMeter } from "./call-meter.js";
import type { MetricSources } from "./metrics.js";

/** Where a server's metrics come from: each component's own `stats()`, read at scrape time. */
export function tesseraMetricSources(t: Tessera, calls: CallMeter | undefined): MetricSources {
  const log = t.decisionLog;
  return {
    calls,
    tokenCache: () => t.verifier.stats(),
    credentialCache: () => t.credentials.stats(),
    decisions: () => t.auth.decisions.entries(),
    decisionLog: log ? () => ({ ...log.stats(), backlog: log.backlog }) : undefined,
    signingKey: () => t.keys.stats(),
    rateLimits: () => t.rateLimits.stats(),
  };
}
