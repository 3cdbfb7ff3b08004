import { type Command, Option } from "commander";
import type { ConfigInput } from "../../config/config.js";
import { defaultText, SCHEMA, SETTING_KEYS, type Setting, type SettingKey } from "../../config/schema.js";
import type { RawValue } from "../../config/values.js";

/** A setting's help line: what it does, its variable and its default. */
export function settingHelp(key: SettingKey): string {
  const s = SCHEMA[key] as Setting<unknown, unknown>;
  return `${s.doc} (${s.env}; default ${defaultText(key)})`;
}

/**
 * Adds a `serve` flag for every setting of the schema, grouped as in docs/config.md: `--name
 * <value>`, or for an on/off setting `--name` and `--no-name`. Returns how to read the parsed
 * options back as loadConfig's input (a flag not given stays unset, so the variable or file
 * underneath still counts).
 */
export function addSettingFlags(cmd: Command): (opts: Readonly<Record<string, unknown>>) => ConfigInput {
  const keyOf = new Map<string, SettingKey>();
  for (const key of SETTING_KEYS) {
    const s = SCHEMA[key] as Setting<unknown, unknown>;
    const group = `${s.group}:`;
    const onOff = s.type.arg === "";
    const option = new Option(onOff ? s.flag : `${s.flag} <${s.type.arg}>`, settingHelp(key)).helpGroup(
      group,
    );
    cmd.addOption(option);
    keyOf.set(option.attributeName(), key);
    // Declared after the positive flag, the negative one leaves the default unset (commander).
    if (onOff) cmd.addOption(new Option(`--no-${s.flag.slice(2)}`, `turn ${s.flag} off`).helpGroup(group));
  }
  return (opts) => {
    const input: ConfigInput = {};
    for (const [attribute, key] of keyOf) {
      const v = opts[attribute];
      if (v !== undefined) input[key] = v as RawValue;
    }
    return input;
  };
}
