/** pino's numeric levels by name, as a person reads them. */
const LEVELS: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};
/** ANSI colours per level (dim, dim, default, yellow, red, red). */
const COLORS: Record<number, string> = { 10: "2", 20: "2", 30: "36", 40: "33", 50: "31", 60: "31" };
/** Fields every record has that say nothing new on one machine's terminal. */
const OMIT = new Set(["level", "time", "msg", "service", "hostname", "pid", "err"]);

/** A value as `key=value`: bare when it is a plain word, JSON otherwise. */
function field(key: string, value: unknown): string {
  const text = typeof value === "string" && /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return `${key}=${text}`;
}

/** An error record's message and stack, indented under its line. */
function errorLines(err: unknown): string {
  if (!err || typeof err !== "object") return err === undefined ? "" : ` ${field("err", err)}`;
  const e = err as { message?: unknown; stack?: unknown };
  const stack = typeof e.stack === "string" ? e.stack : String(e.message ?? "");
  return `\n${stack
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n")}`;
}

/**
 * One pino JSON line as a line for people: `2025-01-02T03:04:05.678Z INFO  msg key=value …`,
 * an error's stack indented below. A line that is not a JSON record passes through unchanged.
 */
export function prettyLine(line: string, color = false): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = typeof record.level === "number" ? record.level : 30;
  const name = (LEVELS[level] ?? String(level)).padEnd(5);
  const shown = color ? `\u001b[${COLORS[level] ?? "0"}m${name}\u001b[0m` : name;
  const fields = Object.entries(record)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => field(k, v));
  const head = [String(record.time ?? ""), shown, String(record.msg ?? ""), ...fields].join(" ");
  return `${head}${errorLines(record.err)}\n`;
}
