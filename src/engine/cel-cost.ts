/**
 * The cost model of the CEL budget: what a call costs in steps (one step is about one node
 * evaluated, 0.1 µs here), calibrated against @bufbuild/cel so that a budget of steps is a
 * budget of time whatever the condition does. Used by the static estimate and by the weights
 * the instrumented conditions charge as they run (cel-analysis.ts).
 */

/** Functions whose cost grows with the length of their arguments (a scan, a parse, a match). */
export const LINEAR: ReadonlySet<string> = new Set([
  ...["_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_", "@in", "size"],
  ...["matches", "contains", "startsWith", "endsWith"],
  ...["string", "bytes", "int", "uint", "double", "bool", "timestamp", "duration"],
]);

/**
 * Steps one call costs beyond its arguments, where it is well above one node's (about 0.1 µs),
 * as measured with this library: `timestamp("…")` parses a date, `matches` compiles its pattern
 * on every call, `+` tries each overload of `+` in turn, and a time getter given a time zone
 * builds an Intl.DateTimeFormat (about 100 µs) on every call.
 */
const WEIGHTS: Readonly<Record<string, number>> = {
  timestamp: 40,
  duration: 40,
  matches: 60,
  "_+_": 30,
  ...Object.fromEntries(["string", "int", "uint", "double", "bytes", "bool"].map((name) => [name, 4])),
};

const TIME_GETTERS = new Set(
  ["getFullYear", "getMonth", "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear"].concat([
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
  ]),
);

/** Steps a call costs beyond its arguments. */
export function weightOf(c: { readonly function: string; readonly args: readonly unknown[] }): number {
  if (TIME_GETTERS.has(c.function)) return c.args.length > 0 ? 1000 : 5;
  return WEIGHTS[c.function] ?? 1;
}
