import pg from "pg";

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

function runner(client: pg.Pool | pg.PoolClient): Sql {
  return {
    async query<R>(text: string, params: readonly unknown[] = []): Promise<R[]> {
      const res = await client.query(text, params as unknown[]);
      return res.rows as R[];
    },
    async one<R>(text: string, params: readonly unknown[] = []): Promise<R | undefined> {
      const res = await client.query(text, params as unknown[]);
      return res.rows[0] as R | undefined;
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
      const client = await this.pool.connect();
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
        throw err;
      } finally {
        client.release(broken);
      }
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** True when `url` names a PostgreSQL database (`postgres://` or `postgresql://`). */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}
