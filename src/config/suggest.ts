/** Lower case without separators: `grpc_port`, `grpc-port`, `GRPC_PORT` and `grpcPort` are one name. */
function folded(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, "");
}

/** Edits (insert, delete, substitute) from a to b. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/**
 * The known key a mistaken one most likely meant: the same name in another spelling (`grpc_port`,
 * `GRPC_PORT`, the flag `grpc-port` for `grpcPort`), or one a typo or two away. `aliases` gives
 * other names each key goes by (its flag, its variable).
 */
export function closestKey(
  unknown: string,
  aliases: Readonly<Record<string, readonly string[]>>,
): string | undefined {
  const wanted = folded(unknown);
  let best: { key: string; d: number } | undefined;
  for (const [key, names] of Object.entries(aliases)) {
    for (const name of [key, ...names]) {
      const d = distance(wanted, folded(name));
      if (d === 0) return key;
      if (!best || d < best.d) best = { key, d };
    }
  }
  // One edit in a short name, about one in four in a long one: closer than that is a guess.
  const allowed = Math.max(1, Math.floor(wanted.length / 4));
  return best && best.d <= allowed ? best.key : undefined;
}

/** A key as the file wrote it, bounded so that a pasted blob does not flood the terminal. */
function quoted(key: string): string {
  return JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key);
}

/**
 * The refusal of keys that are not settings, in one line, each with the key it likely meant:
 * `unknown key "grpc_port" in f.yaml; did you mean "grpcPort"?`.
 */
export function unknownKeysMessage(
  keys: readonly string[],
  where: string,
  aliases: Readonly<Record<string, readonly string[]>>,
): string {
  const hint = (k: string) => {
    const meant = closestKey(k, aliases);
    return meant ? `did you mean "${meant}"?` : "";
  };
  if (keys.length === 1) {
    const key = keys[0] ?? "";
    return `unknown key ${quoted(key)} in ${where}${hint(key) ? `; ${hint(key)}` : ""}`;
  }
  const each = keys.map((k) => (hint(k) ? `${quoted(k)} (${hint(k)})` : quoted(k)));
  return `unknown keys in ${where}: ${each.join(", ")}`;
}
