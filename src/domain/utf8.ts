/**
 * UTF-8 sizes of JavaScript strings, counted without encoding them (no allocation): limits are
 * in bytes, as they travel, while `length` counts UTF-16 units.
 */

/**
 * The UTF-8 byte length of `s`, counting stops once it passes `stop` (the result is then some
 * number above `stop`). A lone surrogate counts 3, as the encoder writes U+FFFD for it.
 */
export function utf8Length(s: string, stop = Number.POSITIVE_INFINITY): number {
  const n = s.length;
  let bytes = 0;
  for (let i = 0; i < n && bytes <= stop; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** True when `s` is at most `max` UTF-8 bytes; two comparisons for almost every string. */
export function utf8Fits(s: string, max: number): boolean {
  // A UTF-16 unit is 1 to 3 UTF-8 bytes (a surrogate pair, 2 units, is 4 bytes).
  if (s.length * 3 <= max) return true;
  if (s.length > max) return false;
  return utf8Length(s, max) <= max;
}
