import pg from "pg";
import type { ChangeWatch } from "../contract/store.js";
import { CHANGE_CHANNEL } from "./changes.js";

export interface ChangeWatchOptions {
  /** First and longest wait between reconnection attempts. */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

/**
 * LISTENs for committed changes on a connection of its own (a pooled one would be handed to
 * other queries). A lost connection is reported, then retried with exponential backoff and
 * jitter; on every (re)connect `onConnection(true)` lets the caller catch up from the change
 * table, since notifications sent while it was away are gone.
 */
export function watchPgChanges(
  url: string,
  wake: () => void,
  onConnection: (up: boolean) => void,
  opts: ChangeWatchOptions = {},
): ChangeWatch {
  const minBackoff = opts.minBackoffMs ?? 100;
  const maxBackoff = opts.maxBackoffMs ?? 5000;
  let backoff = minBackoff;
  let stopped = false;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;

  const retry = () => {
    if (stopped || timer) return;
    const wait = backoff / 2 + Math.random() * (backoff / 2);
    backoff = Math.min(maxBackoff, backoff * 2);
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, wait);
    timer.unref();
  };

  const lost = (c: pg.Client) => {
    if (client !== c) return; // an old connection's late event
    client = undefined;
    c.end().catch(() => {});
    if (stopped) return;
    onConnection(false);
    retry();
  };

  const connect = async (): Promise<void> => {
    const c = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: 5000,
      keepAlive: true,
      application_name: "tessera-listen",
    });
    c.on("notification", () => wake());
    c.on("error", () => lost(c));
    c.on("end", () => lost(c));
    client = c;
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANGE_CHANNEL}`);
    } catch {
      lost(c);
      return;
    }
    if (stopped) {
      await c.end().catch(() => {});
      return;
    }
    backoff = minBackoff;
    onConnection(true);
  };

  void connect();
  return {
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      const c = client;
      client = undefined;
      c?.end().catch(() => {});
    },
  };
}
