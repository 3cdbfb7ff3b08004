import { dirname } from "node:path";
import { openDatabase } from "../../../src/store/db.js";
import { PgDb } from "../../../src/store/postgres/pg-db.js";
import { type Opened, selectRows } from "./backends.js";

/** The change rows written so far, oldest first, as [kind, org_id, ref]. */
export async function changeRows(o: Opened): Promise<[string, string | null, string | null][]> {
  const rows = await selectRows<{ kind: string; org_id: string | null; ref: string | null }>(
    o,
    "SELECT kind, org_id, ref FROM changes ORDER BY seq",
  );
  return rows.map((r) => [r.kind, r.org_id, r.ref]);
}

/** The admin-audit rows written so far, oldest first, summaries parsed. */
export async function auditRows(o: Opened): Promise<
  {
    orgId: string | null;
    action: string;
    targetKind: string;
    targetId: string;
    before: unknown;
    after: unknown;
  }[]
> {
  const rows = await selectRows<{
    org_id: string | null;
    action: string;
    target_kind: string;
    target_id: string;
    before: string | null;
    after: string | null;
  }>(o, "SELECT org_id, action, target_kind, target_id, before, after FROM admin_audit ORDER BY seq");
  return rows.map((r) => ({
    orgId: r.org_id,
    action: r.action,
    targetKind: r.target_kind,
    targetId: r.target_id,
    before: r.before === null ? null : JSON.parse(r.before),
    after: r.after === null ? null : JSON.parse(r.after),
  }));
}

/**
 * Two more connections to the test's database, as two replicas (PostgreSQL: two pools) or two
 * server processes (SQLite: two connections to the same file) would hold, each connected before
 * the race begins; `close` ends both.
 */
export async function twoReplicas(o: Opened): Promise<{ a: Opened; b: Opened; close: () => Promise<void> }> {
  if (o.kind === "sqlite") {
    const dir = dirname(o.db.name);
    const a = openDatabase(dir);
    const b = openDatabase(dir);
    return {
      a: { kind: "sqlite", db: a },
      b: { kind: "sqlite", db: b },
      close: async () => {
        a.close();
        b.close();
      },
    };
  }
  const a = new PgDb(o.db.url);
  const b = new PgDb(o.db.url);
  // Connected beforehand, so neither call spends its start opening a connection.
  await Promise.all([a, b].map((db) => Promise.all([1, 2].map(() => db.query("SELECT 1")))));
  return {
    a: { kind: "postgres", db: a },
    b: { kind: "postgres", db: b },
    close: async () => {
      await Promise.all([a.close(), b.close()]);
    },
  };
}

/** Runs both at once; each settles to its value or its error. */
export function race<A, B>(
  a: () => A | Promise<A>,
  b: () => B | Promise<B>,
): Promise<[PromiseSettledResult<Awaited<A>>, PromiseSettledResult<Awaited<B>>]> {
  return Promise.allSettled([Promise.resolve().then(a), Promise.resolve().then(b)]);
}

/** A settled call's value ("ok" for none), or its refusal's TesseraError reason or driver code. */
export function outcome(r: PromiseSettledResult<unknown>): unknown {
  if (r.status === "fulfilled") return r.value === undefined ? "ok" : r.value;
  return reasonOf(r.reason);
}

/** A TesseraError's reason, or a driver error's code. */
export function reasonOf(err: unknown): string {
  const e = err as { reason?: string; code?: string };
  return e.reason ?? e.code ?? String(err);
}

/** Whether `err` is a uniqueness violation: SQLite's constraint error or PostgreSQL's 23505. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "23505";
}

/** The error `fn` rejects with (fails the test when it does not reject). */
export async function rejection(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}
