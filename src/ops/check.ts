import type { Config } from "../config/config.js";
import type { Origin } from "../config/origin.js";

/**
 * One item of the production checklist. `severity` says what a finding does: `fatal` ones
 * refuse `serve --mode production` (and fail `tessera doctor` there); `warn` ones are only told.
 * In development mode every finding is a warning.
 */
export interface Check {
  /** Stable, kebab-case: how doctor's output and the README name it. */
  readonly id: string;
  /** What passing means, in one line (doctor prints it). */
  readonly title: string;
  readonly severity: "fatal" | "warn";
  /** Every code its findings may carry (stable: scripts, tests and the README name them). */
  readonly codes: readonly string[];
  /** The problems found; none means the check passes. */
  run(config: Config, env: CheckEnv): readonly Finding[];
}

/** One problem: a stable code (for scripts and tests) and a message saying what to do. */
export interface Finding {
  readonly code: string;
  readonly message: string;
}

/** What the checks need besides the config: where settings came from, and the platform. */
export interface CheckEnv {
  /** The config file, when one was given. */
  readonly configFile?: string | undefined;
  /** Where the master key came from, when set. */
  readonly masterKeyOrigin?: Origin | undefined;
  /** process.platform: file modes mean nothing on Windows. */
  readonly platform: NodeJS.Platform;
}

export const finding = (code: string, message: string): Finding => ({ code, message });
