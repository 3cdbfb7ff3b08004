import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "./errors.js";
import type { RawValue } from "./values.js";

/** Why a file could not be read, in an operator's words. */
function unreadable(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES") return "permission denied";
  if (code === "EISDIR") return "it is a directory";
  return code ?? String(err);
}

/**
 * A YAML file's top-level mapping. An empty file is an empty mapping. A parse error is
 * reported by its first line only: the lines after it quote the file, which may hold a secret.
 */
export function readYamlMapping(path: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read ${what} ${path}: ${unreadable(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    const first = (err instanceof Error ? err.message : String(err)).split("\n")[0] ?? "";
    throw new ConfigError(`${what} ${path} is not valid YAML: ${first.replace(/:$/, "")}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed))
    throw new ConfigError(`${what} ${path} must be a YAML mapping of keys to values`);
  return parsed as Record<string, unknown>;
}

/** A mapping's value as a setting takes it: a scalar, or undefined for `key:` with nothing after it. */
export function scalarValue(value: unknown, name: string): RawValue | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return value;
  throw new ConfigError(`${name} must be a single value, not a list or mapping`);
}
