import { type DestinationStream, pino } from "pino";
import { prettyLine } from "./log-pretty.js";

/** How log lines are written: `json`, one object a line for machines; `pretty`, one line a record for people. */
export type LogFormat = "json" | "pretty";

/** The format to write: `auto` is pretty for a person at a terminal, JSON for a pipe or a file. */
export function resolveLogFormat(setting: LogFormat | "auto", terminal: boolean): LogFormat {
  return setting === "auto" ? (terminal ? "pretty" : "json") : setting;
}

export interface LoggerOptions {
  readonly level?: string;
  readonly format?: LogFormat;
  /** Colour the level in pretty output (on a terminal). */
  readonly color?: boolean;
  /** Where lines go; standard output by default. */
  readonly destination?: { write(line: string): unknown };
}

/** Fields that could hold a secret, redacted wherever they appear. */
const REDACT = [
  "apiKey",
  "adminToken",
  "operatorToken",
  "token",
  "secret",
  "password",
  "masterKey",
  "*.apiKey",
  "*.adminToken",
  "*.operatorToken",
  "*.token",
  "*.secret",
  "*.password",
  "*.masterKey",
  "headers['x-api-key']",
  "headers['x-admin-token']",
  "headers['x-operator-token']",
  "headers.authorization",
];

function destination(opts: LoggerOptions): DestinationStream | undefined {
  const out = opts.destination ?? (opts.format === "pretty" ? process.stdout : undefined);
  if (!out) return undefined; // pino's own writer on standard output
  if (opts.format !== "pretty") return { write: (line: string) => void out.write(line) };
  const color = opts.color === true;
  return { write: (line: string) => void out.write(prettyLine(line, color)) };
}

/**
 * The server's logger: pino, with ISO 8601 times (UTC), as JSON lines or, in `pretty` format,
 * as lines a person reads (our own small formatter over the same records). Fields that could
 * hold a secret are redacted wherever they appear.
 */
export function createLogger(opts: LoggerOptions | string = {}) {
  const o: LoggerOptions = typeof opts === "string" ? { level: opts } : opts;
  const settings = {
    level: o.level ?? "info",
    base: { service: "tessera" },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT, censor: "[redacted]" },
  };
  const dest = destination(o);
  return dest ? pino(settings, dest) : pino(settings);
}

export type Logger = ReturnType<typeof createLogger>;
