/**
 * True when a JSON text has an object with the same key twice, at any depth. JSON.parse
 * keeps the last one silently; a token whose header or claims say two things must be refused
 * (RFC 8725 §3.8; SECURITY.md). Assumes `text` is valid JSON (the caller parses it too).
 */
export function hasDuplicateKeys(text: string): boolean {
  const stack: (Set<string> | null)[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const keys = stack[stack.length - 1];
      let k = j + 1;
      while (k < text.length && /\s/.test(text[k] as string)) k++;
      // A string followed by ':' inside an object is a key.
      if (keys && text[k] === ":") {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (keys.has(key)) return true;
        keys.add(key);
      }
      i = j + 1;
    } else {
      if (c === "{") stack.push(new Set());
      else if (c === "[") stack.push(null);
      else if (c === "}" || c === "]") stack.pop();
      i++;
    }
  }
  return false;
}
