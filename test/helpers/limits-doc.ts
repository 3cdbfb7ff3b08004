import { type FieldBound, REQUEST_LIMITS } from "../../src/domain/limits.js";

/** The README's Limits table, from REQUEST_LIMITS (fixed-size and nested fields left out). */
export function renderLimitsTable(): string {
  const rows = Object.entries(REQUEST_LIMITS).flatMap(([key, b]) => {
    const bound = describeBound(b);
    return bound ? [`| \`${key.replace(/^tessera\.v1\./, "")}\` | ${bound} | ${b.why} |`] : [];
  });
  return ["| field | bound | why |", "|---|---|---|", ...rows].join("\n");
}

function describeBound(b: FieldBound): string | undefined {
  const also = (reason?: string) => (reason ? ` (\`${reason}\`)` : "");
  switch (b.kind) {
    case "string":
      return `${b.maxBytes} bytes${also(b.reason)}`;
    case "list":
      return `${b.maxItems} items${b.itemBytes ? ` × ${b.itemBytes} bytes` : ""}${also(b.reason)}`;
    case "map":
      return `${b.maxEntries} entries, keys ${b.keyBytes} bytes${b.valueBytes ? `, values ${b.valueBytes} bytes` : ""}`;
    case "struct": {
      const s = b.bounds;
      return `Struct: ${s.depth} levels, ${s.entries} entries, keys ${s.keyBytes} bytes, strings ${s.stringBytes} bytes, ${s.totalBytes} bytes in all`;
    }
    default:
      return undefined;
  }
}
