import { BadValue, type ValueType } from "./values.js";

/** The allow-list entry that lets every origin in: development only. */
export const ANY_ORIGIN = "*";

/** The empty list, as help shows it and an operator may write it (an empty value says the same). */
const NONE = "none";

/** `scheme://host[:port]` and at most a trailing slash: no path, query, fragment or user info. */
const ORIGIN_SHAPE = /^https?:\/\/[^/?#@\s*]+\/?$/i;

/**
 * One allow-list entry as the browser will send it in `Origin`: the URL's serialized origin
 * (lower-case scheme and host, punycode, the default port dropped). A browser's Origin header is
 * compared with it as a whole string, so `https://app.example.com` never lets in
 * `https://app.example.com.attacker.net` or `http://app.example.com`.
 */
function origin(entry: string): string {
  if (!ORIGIN_SHAPE.test(entry)) throw new BadValue();
  try {
    return new URL(entry).origin;
  } catch {
    throw new BadValue();
  }
}

/**
 * The browser origins allowed to call the HTTP port (CORS): comma-separated exact origins, or
 * `*` alone for any origin (development only). Empty, or `none`, means none.
 */
export const originList: ValueType<readonly string[]> = {
  arg: "origins",
  expects:
    "comma-separated origins like https://app.example.com (scheme, host and optional port; no path or wildcard), * alone, or none",
  parse: (raw) => {
    if (typeof raw !== "string") throw new BadValue();
    const entries = raw
      .split(",")
      .map((e) => e.trim())
      .filter((e) => e !== "");
    if (entries.length === 1 && entries[0] === NONE) return [];
    if (entries.includes(ANY_ORIGIN)) {
      if (entries.length > 1) throw new BadValue();
      return [ANY_ORIGIN];
    }
    return [...new Set(entries.map(origin))];
  },
  show: (v) => (v.length === 0 ? NONE : v.join(",")),
};

/** True when the configuration lets any browser origin call the HTTP port (`corsOrigins: "*"`). */
export function corsAllowsAnyOrigin(config: { readonly corsOrigins: readonly string[] }): boolean {
  return config.corsOrigins.includes(ANY_ORIGIN);
}
