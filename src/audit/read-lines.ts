import { open } from "node:fs/promises";

/**
 * The complete lines of a file from `offset`, about `maxBytes` of them (at least one line,
 * however long), and where the next read starts. At the end of the file, no lines.
 */
export async function readLines(
  path: string,
  offset: number,
  maxBytes: number,
): Promise<{ lines: string[]; end: number }> {
  const fh = await open(path, "r");
  try {
    for (let size = Math.max(64 * 1024, maxBytes); ; size *= 2) {
      const buf = Buffer.alloc(size);
      const { bytesRead } = await fh.read(buf, 0, size, offset);
      const last = bytesRead === 0 ? -1 : buf.lastIndexOf(10, bytesRead - 1);
      if (last >= 0) return { lines: buf.toString("utf8", 0, last).split("\n"), end: offset + last + 1 };
      if (bytesRead < size) return { lines: [], end: offset + bytesRead };
    }
  } finally {
    await fh.close();
  }
}
