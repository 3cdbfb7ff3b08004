import type { TesseraStore } from "../contract/store.js";

/** Opens the PostgreSQL store (assembled once its repositories land). */
export async function openPgStore(_url: string, _dataDir: string): Promise<TesseraStore> {
  throw new Error("the PostgreSQL store is not assembled yet");
}
