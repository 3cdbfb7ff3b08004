import type { SettingKey } from "./schema.js";
import { type ConfigInput, envLayer, fileLayer, flagLayer, type Origin } from "./sources.js";

export type { Origin } from "./sources.js";

/** The config file named by `--config` or `TESSERA_CONFIG`, as loadConfig finds it. */
export function configFileOf(flags: ConfigInput, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const named = flags.config ?? env.TESSERA_CONFIG;
  return typeof named === "string" && named.trim() !== "" ? named : undefined;
}

/**
 * Where a setting's value comes from (flag, variable or config file, the first that gives it,
 * as loadConfig reads them), or undefined when it has its default. Call it after loadConfig
 * succeeded: the file is read again, and any problem with it was reported there.
 */
export function originOf(
  key: SettingKey,
  flags: ConfigInput,
  env: NodeJS.ProcessEnv = process.env,
): Origin | undefined {
  const file = configFileOf(flags, env);
  const layers = [flagLayer(flags), envLayer(env), ...(file === undefined ? [] : [fileLayer(file)])];
  return layers.find((l) => l.values[key] !== undefined)?.origin;
}
