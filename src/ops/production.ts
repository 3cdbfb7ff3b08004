import type { Config, ConfigInput } from "../config/config.js";
import { configFileOf, originOf } from "../config/origin.js";
import type { CheckEnv, Finding } from "./check.js";
import { type Checklist, failures, runChecklist } from "./doctor.js";

/** Production mode's refusal to start: every failed finding at once, with its code. */
export class ProductionRefusal extends Error {
  override readonly name = "ProductionRefusal";

  constructor(
    readonly findings: readonly Finding[],
    readonly checklist: Checklist,
  ) {
    super(
      [
        `production mode refuses to start: ${findings.length} problem${findings.length === 1 ? "" : "s"}`,
        ...findings.map((f) => `  ${f.code}: ${f.message}`),
        "(tessera doctor, with the same settings, prints the whole checklist)",
      ].join("\n"),
    );
  }
}

/**
 * Before anything starts in production mode: runs the checklist and throws a ProductionRefusal
 * naming every failure. Nothing is checked (and nothing thrown) in development mode.
 */
export function enforceProduction(config: Config, env: CheckEnv): void {
  if (config.mode !== "production") return;
  const list = runChecklist(config, env);
  const failed = failures(list);
  if (failed.length > 0) throw new ProductionRefusal(failed, list);
}

/** The config a production start runs with: never a development org, whatever the flags say. */
export function productionConfig(config: Config): Config {
  return config.mode === "production" ? { ...config, bootstrapDevOrg: false } : config;
}

/** Where the settings the checks care about came from: flags, variables or the config file. */
export function checkEnvOf(flags: ConfigInput): CheckEnv {
  return {
    configFile: configFileOf(flags),
    masterKeyOrigin: originOf("masterKey", flags),
    platform: process.platform,
  };
}
