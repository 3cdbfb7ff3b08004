const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Parses `90`, `30s`, `15m`, `1h`, `2d` (or combinations like `1h30m`) into whole seconds; undefined if malformed. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const parts = [...trimmed.matchAll(/(\d+)([smhd])/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== trimmed) return undefined;
  return parts.reduce((sum, p) => sum + Number(p[1]) * (UNITS[p[2] as string] ?? 0), 0);
}

/** Whole seconds as a person writes them, the inverse of parseDuration: 5400 → `1h30m`, 0 → `0`. */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return "0";
  let rest = seconds;
  let out = "";
  for (const [unit, size] of Object.entries(UNITS).reverse()) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}
