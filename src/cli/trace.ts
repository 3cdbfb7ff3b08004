/** One candidate rule of an explanation, as the server (RuleTrace) or the local engine gives it. */
export interface TraceLine {
  readonly rule: string;
  readonly effect: string;
  readonly outcome: string;
  readonly error?: string | undefined;
}

/** An explanation as indented lines: each candidate rule, its effect and why it matched or not. */
export function traceLines(trace: readonly TraceLine[], indent = "  "): string[] {
  if (trace.length === 0) return [`${indent}(no rule covers this scope)`];
  const width = Math.max(...trace.map((t) => t.rule.length));
  return trace.map(
    (t) =>
      `${indent}${t.rule.padEnd(width)}  ${t.effect.padEnd(5)}  ${t.outcome}${t.error ? `: ${t.error}` : ""}`,
  );
}

/** A trace as JSON: the error only when there is one. */
export function traceJson(t: TraceLine) {
  return { rule: t.rule, effect: t.effect, outcome: t.outcome, ...(t.error ? { error: t.error } : {}) };
}
