import type { Db } from "./db.js";

/**
 * What changed: each kind names the in-memory state a process must refresh (`identity`: the
 * mTLS identity → org bindings; `trust`: which orgs trust which).
 */
export type ChangeKind = "policy" | "credential" | "keys" | "token_revoked" | "agent" | "identity" | "trust";

export interface Change {
  readonly seq: number;
  readonly kind: ChangeKind;
  readonly orgId: string | null;
  readonly ref: string | null;
}

/** The change log other server processes on this database poll to converge. */
export class ChangeLog {
  private readonly insert;
  private readonly after;
  private readonly last;

  constructor(private readonly db: Db) {
    this.insert = db.prepare("INSERT INTO changes (kind, org_id, ref, at) VALUES (?, ?, ?, ?)");
    this.after = db.prepare<
      [number],
      { seq: number; kind: ChangeKind; org_id: string | null; ref: string | null }
    >("SELECT seq, kind, org_id, ref FROM changes WHERE seq > ? ORDER BY seq LIMIT 1000");
    this.last = db.prepare<[], { seq: number | null }>("SELECT max(seq) AS seq FROM changes");
  }

  /** Records a change; call inside the transaction that makes it. */
  record(kind: ChangeKind, orgId: string | null, ref: string | null = null): void {
    this.insert.run(kind, orgId, ref, Math.floor(Date.now() / 1000));
  }

  /** Changes after `seq`, oldest first (at most 1000 a call). */
  since(seq: number): Change[] {
    return this.after.all(seq).map((r) => ({ seq: r.seq, kind: r.kind, orgId: r.org_id, ref: r.ref }));
  }

  /** The newest sequence number (0 when empty). */
  latest(): number {
    return this.last.get()?.seq ?? 0;
  }

  /** Drops changes older than `maxAgeSeconds`; every process has long applied them. */
  prune(maxAgeSeconds: number): void {
    this.db.prepare("DELETE FROM changes WHERE at < ?").run(Math.floor(Date.now() / 1000) - maxAgeSeconds);
  }
}
