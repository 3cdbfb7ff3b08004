/** One org's decisions by reason: [allowed, denied]. */
type ByReason = Map<string, [number, number]>;

/** A count of decisions with one outcome, reason and org. */
export interface DecisionCount {
  readonly orgId: string;
  readonly reason: string;
  readonly decision: "ALLOW" | "DENY";
  readonly count: number;
}

/**
 * Decisions counted by org, reason and outcome since start. The hot path increments integers
 * (no key string built per call); metrics read `entries()` at scrape time. Bounded by the
 * number of orgs times the closed set of reasons: never a subject, a token or a key.
 */
export class DecisionCounts {
  private readonly byOrg = new Map<string, ByReason>();

  add(orgId: string, allow: boolean, reason: string): void {
    let reasons = this.byOrg.get(orgId);
    if (!reasons) {
      reasons = new Map();
      this.byOrg.set(orgId, reasons);
    }
    let n = reasons.get(reason);
    if (!n) {
      n = [0, 0];
      reasons.set(reason, n);
    }
    n[allow ? 0 : 1]++;
  }

  /** Every non-zero count. */
  entries(): DecisionCount[] {
    const out: DecisionCount[] = [];
    for (const [orgId, reasons] of this.byOrg) {
      for (const [reason, [allowed, denied]] of reasons) {
        if (allowed > 0) out.push({ orgId, reason, decision: "ALLOW", count: allowed });
        if (denied > 0) out.push({ orgId, reason, decision: "DENY", count: denied });
      }
    }
    return out;
  }
}
