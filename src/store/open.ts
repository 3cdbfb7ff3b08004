import type { TesseraStore } from "./contract/store.js";
import { openStore } from "./store.js";

/** What choosing a store needs from the configuration. */
export interface StoreChoice {
  /** This process's own directory; the SQLite database lives here when `database` is unset. */
  readonly dataDir: string;
  /** A PostgreSQL URL shared by every replica; unset: the embedded SQLite database. */
  readonly database?: string | undefined;
}

/**
 * Opens the store the configuration names, migrated and ready: the only place that knows
 * which backend is underneath (PostgreSQL's module is loaded only when it is chosen).
 */
export async function openTesseraStore(choice: StoreChoice): Promise<TesseraStore> {
  if (!choice.database) return openStore(choice.dataDir);
  const { openPgStore } = await import("./postgres/store.js");
  return openPgStore(choice.database, choice.dataDir);
}
