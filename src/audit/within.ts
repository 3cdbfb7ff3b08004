/** A wait that ran out of time (the operation may still finish later). */
export class TimedOut extends Error {
  override readonly name = "TimedOut";
}

/**
 * Settles as `p` does, or rejects with TimedOut after `ms`: nothing in the decision log waits
 * on a disk or a thread forever. The timer keeps the process alive only until either happens
 * (so a closing process does not exit before its last write lands).
 */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimedOut(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
