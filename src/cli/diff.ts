/** One line of an edit script: kept, removed from the old text, or added by the new one. */
interface Edit {
  readonly op: " " | "-" | "+";
  readonly line: string;
}

/** Past this many cells the table is not built: the whole document shows as replaced. */
const MAX_CELLS = 4_000_000;

/** The shortest edit script from `a` to `b` (longest common subsequence of lines). */
function edits(a: readonly string[], b: readonly string[]): Edit[] {
  const n = a.length;
  const m = b.length;
  if (n * m > MAX_CELLS)
    return [
      ...a.map((line) => ({ op: "-" as const, line })),
      ...b.map((line) => ({ op: "+" as const, line })),
    ];
  // lcs[i*(m+1)+j]: the common subsequence length of a[i..] and b[j..].
  const lcs = new Uint32Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i * (m + 1) + j] =
        a[i] === b[j]
          ? (lcs[(i + 1) * (m + 1) + j + 1] ?? 0) + 1
          : Math.max(lcs[(i + 1) * (m + 1) + j] ?? 0, lcs[i * (m + 1) + j + 1] ?? 0);
  const out: Edit[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      out.push({ op: " ", line: a[i++] ?? "" });
      j++;
    } else if (i < n && (j === m || (lcs[(i + 1) * (m + 1) + j] ?? 0) >= (lcs[i * (m + 1) + j + 1] ?? 0))) {
      // Removals before additions, as diff and git print a changed line.
      out.push({ op: "-", line: a[i++] ?? "" });
    } else {
      out.push({ op: "+", line: b[j++] ?? "" });
    }
  }
  return out;
}

const linesOf = (text: string) => (text === "" ? [] : text.replace(/\n$/, "").split("\n"));

/**
 * A unified diff (`---`/`+++` headers, `@@` hunks with `context` lines around each change) from
 * `oldText` to `newText`; empty when they are equal.
 */
export function unifiedDiff(
  oldText: string,
  newText: string,
  oldName: string,
  newName: string,
  context = 3,
): string {
  const script = edits(linesOf(oldText), linesOf(newText));
  const changed = script.map((e, k) => (e.op === " " ? -1 : k)).filter((k) => k >= 0);
  if (changed.length === 0) return "";
  const out = [`--- ${oldName}`, `+++ ${newName}`];
  let k = 0;
  while (k < changed.length) {
    const start = Math.max(0, (changed[k] ?? 0) - context);
    let end = Math.min(script.length, (changed[k] ?? 0) + context + 1);
    // Changes closer than two contexts apart share a hunk.
    while (k + 1 < changed.length && (changed[k + 1] ?? 0) - context <= end) {
      k++;
      end = Math.min(script.length, (changed[k] ?? 0) + context + 1);
    }
    k++;
    const before = script.slice(0, start);
    const hunk = script.slice(start, end);
    const oldStart = before.filter((e) => e.op !== "+").length;
    const newStart = before.filter((e) => e.op !== "-").length;
    const oldLen = hunk.filter((e) => e.op !== "+").length;
    const newLen = hunk.filter((e) => e.op !== "-").length;
    out.push(`@@ -${oldStart + (oldLen ? 1 : 0)},${oldLen} +${newStart + (newLen ? 1 : 0)},${newLen} @@`);
    out.push(...hunk.map((e) => `${e.op}${e.line}`));
  }
  return out.join("\n");
}
