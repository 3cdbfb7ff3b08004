import { CLIENT_SCHEMA, type ClientKey } from "./client-config.js";
import { defaultText, GROUPS, SCHEMA, SETTING_KEYS, type Setting, type SettingKey } from "./schema.js";

/** Text for a Markdown table cell: pipes escaped, so a doc line cannot break the table. */
function cell(text: string): string {
  return text.replace(/\|/g, "\\|");
}

function serverRow(key: SettingKey): string {
  const s = SCHEMA[key] as Setting<unknown, unknown>;
  const fileKey = s.inFile === false ? "—" : `\`${key}\``;
  const flag =
    s.type.arg === "" ? `\`${s.flag}\`, \`--no-${s.flag.slice(2)}\`` : `\`${s.flag} <${s.type.arg}>\``;
  // A value in code font; a default said in words (computed, or unset) as prose.
  const byDefault = s.defaultText === undefined ? `\`${defaultText(key)}\`` : cell(s.defaultText);
  return `| ${fileKey} | ${flag} | \`${s.env}\` | ${byDefault} | ${cell(s.doc)} |`;
}

function clientRow(key: ClientKey): string {
  const s = CLIENT_SCHEMA[key];
  return `| \`${key}\` | \`${s.flag} <${s.arg}>\` | \`${s.env}\` | ${cell(s.defaultText)} | ${cell(s.doc)} |`;
}

const HEADER = ["| file key | flag | environment | default | what it does |", "|---|---|---|---|---|"];

const SERVER_INTRO = [
  "## Server: `tessera serve`",
  "",
  "Each setting is read from, in this order: its flag, its `TESSERA_*` environment variable (an",
  "empty one counts as unset), the YAML config file (`--config` or `TESSERA_CONFIG`, a mapping of",
  "the file keys below), and its default. A file key that is not a setting is refused (exit 2),",
  'naming the key and the likely intended one (`grpc_port` → "did you mean grpcPort?"); so is a',
  "value that is not valid, naming the flag, variable or key it came from. A secret's value is",
  "never echoed.",
  "",
  "Durations are written `90` (seconds), `30s`, `15m`, `1h`, `2d` or `1h30m`; sizes `65536`,",
  "`64KiB`, `8MiB` or `1GiB`; on/off settings `true`/`false` (also `1`/`0`, `yes`/`no`).",
];

const CLIENT_INTRO = [
  "## CLI: every other `tessera` command",
  "",
  "Each setting is read from its global flag, then its variable, then `~/.tessera/config` (a",
  "YAML mapping of the file keys below; a key that is not one is refused, exit 2). When none of",
  "them names an API key or admin token, the CLI uses the development org's credentials that a",
  "local server's first start wrote to `data/dev-credentials.json` (`TESSERA_DATA_DIR`).",
];

/**
 * docs/config.md: every flag, variable and file key of the server and the CLI with its default,
 * from the schemas. A test fails when the file differs; `npm run docs:config` rewrites it.
 */
export function renderConfigDoc(): string {
  const groups = GROUPS.flatMap((group) => [
    "",
    `### ${group}`,
    "",
    ...HEADER,
    ...SETTING_KEYS.filter((k) => SCHEMA[k].group === group).map(serverRow),
  ]);
  const client = (Object.keys(CLIENT_SCHEMA) as ClientKey[]).map(clientRow);
  return [
    "# Configuration reference",
    "",
    "<!-- Generated from src/config/schema.ts and src/config/client-config.ts by",
    "     `npm run docs:config`; do not edit by hand (a test compares it with the schemas). -->",
    "",
    ...SERVER_INTRO,
    ...groups,
    "",
    ...CLIENT_INTRO,
    "",
    ...HEADER,
    ...client,
    "",
  ].join("\n");
}
