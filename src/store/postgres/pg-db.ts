import pg from "pg";
import { TesseraError } from "../../domain/errors.js";

/** What a repository needs to run SQL: the pool or one transaction's client. */
export interface Sql {
  /** Every row the statement returns. */
  query<R>(text: string, params?: readonly unknown[]): Promise<R[]>;
  /** The first row, or undefined. */
  one<R>(text: string, params?: readonly unknown[]): Promise<R | undefined>;
}

/**
 * Type parsers for this pool only: BIGINT (20) and NUMERIC (1700, what sum() and count() over
 * BIGINT return) come back as numbers, as SQLite's INTEGER does. Every integer Tessera stores
 * (epoch seconds and milliseconds, counts, revisions, sequence numbers) is far below 2^53.
 */
const types = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === 20 || oid === 1700) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format);
  },
};

/** SQLSTATEs after which the whole transaction can simply run again. */
const RETRYABLE = new Set(["40001", "40P01"]); // serialization_failure, deadlock_detected

/** Node's socket errors and PostgreSQL's SQLSTATEs that say the database is out of reach, not that the statement was wrong. */
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EPIPE",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
  "57014", // query_canceled: the statement timeout, a database that stopped answering
]);

/** pg's own errors for a lost or never-made connection carry no code, only these messages. */
const UNREACHABLE_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|connection error|Client was closed/i;

/** True when `err` says the database cannot be reached (rather than refusing the statement). */
export function isUnreachable(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && (UNREACHABLE_CODES.has(code) || code.startsWith("08"))) return true;
  return err instanceof Error && UNREACHABLE_MESSAGE.test(err.message);
}

/**
 * The error a caller sees: UNAVAILABLE STORE_UNAVAILABLE when the database is out of reach (a
 * client may retry, and must not read it as a bug of its own or ours), else the error itself.
 * The driver's message is not passed on: it can name hosts and users.
 */
export function storeError(err: unknown): unknown {
  if (err instanceof TesseraError || !isUnreachable(err)) return err;
  return new TesseraError("STORE_UNAVAILABLE", "the database cannot be reached; try again");
}

function runner(client: pg.Pool | pg.PoolClient): Sql {
  const run = async (text: string, params: readonly unknown[]) => {
    try {
      return await client.query(text, params as unknown[]);
    } catch (err) {
      throw storeError(err);
    }
  };
  return {
    async query<R>(text: string, params: readonly unknown[] = []): Promise<R[]> {
      return (await run(text, params)).rows as R[];
    },
    async one<R>(text: string, params: readonly unknown[] = []): Promise<R | undefined> {
      return (await run(text, params)).rows[0] as R | undefined;
    },
  };
}

export interface PgDbOptions {
  /** Pool size per process. Default 4: admin writes are rare, the hot path never queries. */
  readonly max?: number;
  /** Server-side statement timeout, so a stuck query fails instead of holding a connection. */
  readonly statementTimeoutMs?: number;
  /** How long to wait for a connection. */
  readonly connectTimeoutMs?: number;
}

/** A PostgreSQL connection pool with plain queries and one-function transactions. */
export class PgDb implements Sql {
  readonly pool: pg.Pool;
  private readonly direct: Sql;

  constructor(
    readonly url: string,
    opts: PgDbOptions = {},
  ) {
    this.pool = new pg.Pool({
      connectionString: url,
      max: opts.max ?? 4,
      types,
      statement_timeout: opts.statementTimeoutMs ?? 10_000,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5_000,
      application_name: "tessera",
    });
    // An idle client losing its connection emits on the pool; without a listener it would crash the process.
    this.pool.on("error", () => {});
    this.direct = runner(this.pool);
  }

  query<R>(text: string, params?: readonly unknown[]): Promise<R[]> {
    return this.direct.query<R>(text, params);
  }

  one<R>(text: string, params?: readonly unknown[]): Promise<R | undefined> {
    return this.direct.one<R>(text, params);
  }

  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. A
   * serialization failure or deadlock runs it again (up to 5 times), so `fn` must not have
   * effects outside the database.
   */
  async tx<T>(
    fn: (sql: Sql) => Promise<T>,
    isolation: "read committed" | "serializable" = "read committed",
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect().catch((err: unknown) => {
        throw storeError(err);
      });
      // pg-pool drops its own listener while a client is checked out: a connection lost mid-
      // transaction would emit 'error' with none and end the process. The query in flight
      // fails anyway, and is answered as STORE_UNAVAILABLE.
      const ignore = () => {};
      client.on("error", ignore);
      let broken = false;
      try {
        await client.query(`BEGIN ISOLATION LEVEL ${isolation.toUpperCase()}`);
        const result = await fn(runner(client));
        await client.query("COMMIT");
        return result;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => {
          broken = true;
        });
        const code = (err as { code?: string }).code;
        if (attempt < 5 && code && RETRYABLE.has(code)) continue;
        throw storeError(err);
      } finally {
        client.off("error", ignore);
        client.release(broken);
      }
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
