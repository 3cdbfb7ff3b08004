import { ConfigError } from "./errors.js";
import { SCHEMA, SETTING_KEYS, type Setting, type SettingKey } from "./schema.js";
import { unknownKeysMessage } from "./suggest.js";
import type { RawValue } from "./values.js";
import { readYamlMapping, scalarValue } from "./yaml-file.js";

/** Raw settings as flags (or a test) give them, by file key. */
export type ConfigInput = Partial<Record<SettingKey, RawValue | undefined>>;

/** Where a layer of values came from, to name a bad one the way the operator wrote it. */
export type Origin =
  | { readonly kind: "flag" }
  | { readonly kind: "env" }
  | { readonly kind: "file"; readonly path: string };

/** One source's values, by file key. */
export interface Layer {
  readonly origin: Origin;
  readonly values: Partial<Record<SettingKey, RawValue>>;
}

/** A setting as its source spells it: `--grpc-port`, `TESSERA_GRPC_PORT`, `grpcPort in f.yaml`. */
export function nameIn(key: SettingKey, origin: Origin): string {
  const s = SCHEMA[key] as Setting<unknown, unknown>;
  if (origin.kind === "flag") return s.flag;
  if (origin.kind === "env") return s.env;
  return `${key} in ${origin.path}`;
}

/** Every other name a key goes by, so that `grpc_port` or `max-token-ttl` finds its key. */
const ALIASES: Record<string, readonly string[]> = Object.fromEntries(
  SETTING_KEYS.map((k) => {
    const s = SCHEMA[k] as Setting<unknown, unknown>;
    return [k, [s.flag, s.env, s.env.replace(/^TESSERA_/, "")]];
  }),
);

const FILE_KEYS = new Set<string>(
  SETTING_KEYS.filter((k) => (SCHEMA[k] as Setting<unknown, unknown>).inFile !== false),
);

/** The config file's settings; any key that is not a setting is refused, naming the likely one. */
export function fileLayer(path: string): Layer {
  const mapping = readYamlMapping(path, "config file");
  const unknown = Object.keys(mapping).filter((k) => !FILE_KEYS.has(k));
  if (unknown.length > 0) {
    const fileAliases = Object.fromEntries(Object.entries(ALIASES).filter(([k]) => FILE_KEYS.has(k)));
    throw new ConfigError(unknownKeysMessage(unknown, path, fileAliases));
  }
  const values: Layer["values"] = {};
  for (const [key, raw] of Object.entries(mapping)) {
    const v = scalarValue(raw, `${key} in ${path}`);
    if (v !== undefined) values[key as SettingKey] = v;
  }
  return { origin: { kind: "file", path }, values };
}

/** The `TESSERA_*` variables of the settings; empty ones count as unset. */
export function envLayer(env: NodeJS.ProcessEnv): Layer {
  const values: Layer["values"] = {};
  for (const key of SETTING_KEYS) {
    const v = env[(SCHEMA[key] as Setting<unknown, unknown>).env];
    if (v !== undefined && v !== "") values[key] = v;
  }
  return { origin: { kind: "env" }, values };
}

/** Flags given (undefined ones are not given). */
export function flagLayer(flags: ConfigInput): Layer {
  const values: Layer["values"] = {};
  for (const key of SETTING_KEYS) {
    const v = flags[key];
    if (v !== undefined) values[key] = v;
  }
  return { origin: { kind: "flag" }, values };
}
