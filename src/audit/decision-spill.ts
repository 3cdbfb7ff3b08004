import { readdirSync, renameSync, statSync } from "node:fs";
import { type FileHandle, open, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { DecisionBatch } from "../store/decisions.js";
import { readLines } from "./read-lines.js";

/** Spilled batches read back, to be stored and then committed (so they are not read again). */
export interface SpillChunk {
  readonly batches: readonly DecisionBatch[];
  commit(): void;
}

/**
 * Where the decision log puts batches the database will not take. Calls must not overlap
 * (the log makes one at a time).
 */
export interface SpillStore {
  /** True while spilled batches wait to be moved into the database. */
  hasPending(): boolean;
  /** Appends batches, in order, durably (fsync'd) before resolving. */
  append(batches: readonly DecisionBatch[]): Promise<void>;
  /** The oldest batches not yet committed (about maxBytes of them); undefined once all are. */
  next(maxBytes: number): Promise<SpillChunk | undefined>;
  /** Closes the file being appended to; what is in it stays for the next process. */
  close(): Promise<void>;
}

export interface FileSpillOptions {
  /** This process; spill files of other live processes are left alone. */
  readonly pid?: number | undefined;
  readonly isAlive?: ((pid: number) => boolean) | undefined;
  /** A line that does not parse (a write torn by a crash) is skipped and reported here. */
  readonly onError?: ((err: unknown) => void) | undefined;
}

const NAME = /^decision-spill\.(\d+)\.(\d+)\.jsonl$/;

/** Files a live FileSpill of this process holds: another one (a second server on the same directory) leaves them alone. */
const HELD = new Set<string>();

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Spill files in the data directory, `decision-spill.<pid>.<n>.jsonl`: one JSON line per
 * batch, appended and fsync'd. On start, files left by processes that are gone (a crash, a
 * replaced worker) are adopted by renaming them into this process's name, which only one
 * process can do, and are moved into the database first, oldest first.
 */
export class FileSpill implements SpillStore {
  /** Oldest first; the last is the one being appended to, when `active` is set. */
  private readonly files: string[] = [];
  private active: FileHandle | undefined;
  /** How far the first file has been read and committed. */
  private offset = 0;
  private seq = 0;
  private readonly pid: number;

  constructor(
    private readonly dir: string,
    private readonly opts: FileSpillOptions = {},
  ) {
    this.pid = opts.pid ?? process.pid;
    this.adopt();
  }

  private adopt(): void {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return;
    }
    const isAlive = this.opts.isAlive ?? processAlive;
    const found = names.flatMap((name) => {
      const m = NAME.exec(name);
      if (!m) return [];
      const pid = Number(m[1]);
      if (pid === this.pid) this.seq = Math.max(this.seq, Number(m[2]) + 1);
      if ((pid !== this.pid && isAlive(pid)) || HELD.has(join(this.dir, name))) return [];
      try {
        return [{ name, seq: Number(m[2]), mtime: statSync(join(this.dir, name)).mtimeMs }];
      } catch {
        return []; // adopted by another process meanwhile
      }
    });
    found.sort((a, b) => a.mtime - b.mtime || a.seq - b.seq);
    for (const f of found) {
      const target = this.nextPath();
      try {
        renameSync(join(this.dir, f.name), target);
        this.hold(target);
      } catch {
        // Another process starting at the same moment adopted it first.
      }
    }
  }

  private nextPath(): string {
    // Past any file another FileSpill of this process holds, so two never share a name.
    let path: string;
    do path = join(this.dir, `decision-spill.${this.pid}.${this.seq++}.jsonl`);
    while (HELD.has(path));
    return path;
  }

  private hold(path: string): void {
    this.files.push(path);
    HELD.add(path);
  }

  hasPending(): boolean {
    return this.files.length > 0;
  }

  async append(batches: readonly DecisionBatch[]): Promise<void> {
    if (!this.active) {
      const path = this.nextPath();
      this.hold(path); // before the await: another FileSpill of this process must not pick the name
      try {
        this.active = await open(path, "a", 0o600);
      } catch (err) {
        this.files.pop();
        HELD.delete(path);
        throw err;
      }
    }
    const text = batches.map((b) => `${JSON.stringify(b)}\n`).join("");
    try {
      await this.active.write(text);
      await this.active.datasync();
    } catch (err) {
      // A partly written line must not glue onto the next append: start a new file.
      await this.active.close().catch(() => {});
      this.active = undefined;
      throw err;
    }
  }

  async close(): Promise<void> {
    // What is left is for the next FileSpill (this process's next server, or the next process).
    for (const f of this.files) HELD.delete(f);
    const fh = this.active;
    this.active = undefined;
    await fh?.close();
  }

  async next(maxBytes: number): Promise<SpillChunk | undefined> {
    while (this.files.length > 0) {
      const path = this.files[0] as string;
      const { lines, end } = await readLines(path, this.offset, maxBytes).catch(
        (err: NodeJS.ErrnoException) => {
          // Removed by hand: nothing left to move in (anything else is retried later).
          if (err.code === "ENOENT") return { lines: [], end: 0 };
          throw err;
        },
      );
      if (lines.length === 0) {
        // Read to the end: the file is done (a torn last line, if any, was never acknowledged).
        if (path === this.files.at(-1) && this.active) {
          await this.active.close();
          this.active = undefined;
        }
        await unlink(path).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== "ENOENT") throw err;
        });
        this.files.shift();
        HELD.delete(path);
        this.offset = 0;
        continue;
      }
      return { batches: this.parse(lines), commit: () => (this.offset = end) };
    }
    return undefined;
  }

  private parse(lines: readonly string[]): DecisionBatch[] {
    const out: DecisionBatch[] = [];
    for (const line of lines) {
      if (line === "") continue;
      try {
        const b = JSON.parse(line) as DecisionBatch;
        if (typeof b.id !== "string" || !Array.isArray(b.records) || !Array.isArray(b.overflow))
          throw new Error("not a decision batch");
        out.push(b);
      } catch (err) {
        this.opts.onError?.(
          new Error(`skipping an unreadable decision spill line: ${(err as Error).message}`),
        );
      }
    }
    return out;
  }
}
