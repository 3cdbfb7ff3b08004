/**
 * A meeting point for `n` callers inside their transactions: each waits until all have
 * arrived, or `ms` has passed. Under a correct lock the later caller cannot arrive before the
 * earlier one commits, so the earlier one goes on alone after `ms`; without one, all meet and
 * act on the same stale read.
 */
export function meeting(n: number, ms = 300): () => Promise<void> {
  let arrived = 0;
  const waiting: (() => void)[] = [];
  return async () => {
    if (++arrived >= n) {
      for (const go of waiting.splice(0)) go();
      return;
    }
    await new Promise<void>((resolve) => {
      waiting.push(resolve);
      setTimeout(resolve, ms);
    });
  };
}
