import { redactUrl } from "./database-url.js";
import { formatDuration, parseDuration } from "./duration.js";

/** A value as a flag, an environment variable or a YAML file gives it. */
export type RawValue = string | number | boolean;

/** How one kind of setting is read from text (or YAML scalars) and shown back. */
export interface ValueType<T> {
  /** Placeholder in `serve --help` (`port` → `--grpc-port <port>`); empty for an on/off flag. */
  readonly arg: string;
  /** What a valid value looks like, completing "… must be ". */
  readonly expects: string;
  /** The value; throws BadValue when `raw` is not one. */
  parse(raw: RawValue): T;
  /** The value as a person would write it (help and docs). */
  show(value: T): string;
}

/** Thrown by a parser; the caller names the flag, variable or key and says what was expected. */
export class BadValue extends Error {
  override readonly name = "BadValue";
}

const bad = (): never => {
  throw new BadValue();
};

/** A whole number from a YAML number or from digits only (no signs, exponents or hex). */
function whole(raw: RawValue, maxDigits: number): number {
  if (typeof raw === "number") return Number.isInteger(raw) ? raw : bad();
  const text = String(raw).trim();
  return new RegExp(`^\\d{1,${maxDigits}}$`).test(text) ? Number(text) : bad();
}

/** Any non-empty text (a path, a host, a name). */
export function text(arg: string): ValueType<string> {
  return {
    arg,
    expects: "a non-empty value",
    parse: (raw) => (typeof raw !== "boolean" && String(raw).trim() !== "" ? String(raw) : bad()),
    show: (v) => v,
  };
}

/** A PostgreSQL URL (postgres:// or postgresql://); shown without its password. */
export const databaseUrl: ValueType<string> = {
  arg: "url",
  expects: "a postgres:// or postgresql:// URL",
  parse: (raw) => {
    if (typeof raw !== "string" || !/^postgres(ql)?:\/\/[^\s]+$/i.test(raw.trim())) return bad();
    try {
      new URL(raw.trim());
    } catch {
      return bad();
    }
    return raw.trim();
  },
  show: redactUrl,
};

export const port: ValueType<number> = {
  arg: "port",
  expects: "a port number (0-65535)",
  parse: (raw) => {
    const n = whole(raw, 5);
    return n <= 65535 ? n : bad();
  },
  show: String,
};

/** A whole number in [min, max]. */
export function count(min: number, max: number): ValueType<number> {
  return {
    arg: "n",
    expects: `a whole number from ${min} to ${max}`,
    parse: (raw) => {
      const n = whole(raw, String(max).length);
      return n >= min && n <= max ? n : bad();
    },
    show: String,
  };
}

/** Whole seconds, written `90`, `30s`, `15m`, `1h`, `2d` or `1h30m`; `positive` refuses 0. */
export function duration(opts: { positive: boolean }): ValueType<number> {
  return {
    arg: "duration",
    expects: `a ${opts.positive ? "positive " : ""}duration like 30s, 15m, 1h or 2d`,
    parse: (raw) => {
      const n = typeof raw === "number" ? raw : typeof raw === "string" ? parseDuration(raw) : undefined;
      if (n === undefined || !Number.isSafeInteger(n) || n < 0 || (opts.positive && n === 0)) return bad();
      return n;
    },
    show: formatDuration,
  };
}

const BYTE_UNITS: [string, number][] = [
  ["GiB", 1024 ** 3],
  ["MiB", 1024 ** 2],
  ["KiB", 1024],
];

/** A size in bytes, written `1048576`, `512KiB`, `8MiB` or `1GiB`, in [min, max]. */
export function bytes(min: number, max: number): ValueType<number> {
  const from = min > 0 ? ` from ${min}` : "";
  return {
    arg: "size",
    expects: `a size in bytes${from} like 1048576, 512KiB or 8MiB`,
    parse: (raw) => {
      const m =
        typeof raw === "number" ? undefined : /^(\d{1,13})\s*(KiB|MiB|GiB)?$/.exec(String(raw).trim());
      const unit = BYTE_UNITS.find(([name]) => name === m?.[2])?.[1] ?? 1;
      const n = typeof raw === "number" ? raw : m ? Number(m[1]) * unit : Number.NaN;
      return Number.isSafeInteger(n) && n >= min && n <= max ? n : bad();
    },
    show: (v) => {
      const [name, size] = BYTE_UNITS.find(([, size]) => v > 0 && v % size === 0) ?? ["", 1];
      return `${v / size}${name}`;
    },
  };
}

export const bool: ValueType<boolean> = {
  arg: "",
  expects: "true or false",
  parse: (raw) => {
    if (typeof raw === "boolean") return raw;
    if (["true", "1", "yes"].includes(String(raw))) return true;
    if (["false", "0", "no"].includes(String(raw))) return false;
    return bad();
  },
  show: String,
};

/** One of a few words, spelled exactly. */
export function oneOf<const W extends string>(arg: string, words: readonly W[]): ValueType<W> {
  return {
    arg,
    expects: `one of ${words.join(", ")}`,
    parse: (raw) => (words.includes(raw as W) ? (raw as W) : bad()),
    show: (v) => v,
  };
}

/** A key of `size` bytes, base64-encoded. Never shown: it is a secret. */
export function base64Key(size: number): ValueType<Buffer> {
  return {
    arg: "base64",
    expects: `${size} bytes, base64-encoded (e.g. openssl rand -base64 ${size})`,
    parse: (raw) => {
      const text = typeof raw === "string" ? raw.trim() : "";
      const key = Buffer.from(text, "base64");
      return /^[A-Za-z0-9+/_-]+={0,2}$/.test(text) && key.length === size ? key : bad();
    },
    show: () => "(secret)",
  };
}
