/** Helpers for the JSON-in-TEXT columns that hold small string lists. */
export function toJsonList(list: readonly string[]): string {
  return JSON.stringify(list);
}

export function fromJsonList(text: string): string[] {
  const v = JSON.parse(text) as unknown;
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}
