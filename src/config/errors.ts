/** A configuration problem, reported to the operator (exit 2) before anything starts. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}
