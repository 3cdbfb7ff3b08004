/** A value a store method gives now (SQLite, synchronous) or later (PostgreSQL). */
export type Awaitable<T> = T | Promise<T>;

/**
 * A repository as the core sees it: the same methods, each answer awaitable. The SQLite
 * repositories satisfy it as they are; the PostgreSQL ones return promises. The core awaits
 * every call and so never knows which backend is underneath.
 */
export type Async<R> = {
  [K in keyof R]: R[K] extends (...args: infer A) => infer T ? (...args: A) => Awaitable<T> : R[K];
};
