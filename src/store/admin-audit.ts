import { AsyncLocalStorage } from "node:async_hooks";
import type { Db } from "./db.js";

/** How the principal behind an admin change proved who it is. */
export type AuthMethod = "api_key" | "admin_token" | "user_session" | "mtls" | "operator" | "system";

/** Who made an admin change: never a secret, only ids. */
export interface AuditActor {
  /** `admin:KEY_ID`, `api_key:KEY_ID`, `user:USER_ID`, `operator:TOKEN_ID`, `spiffe:…`, or `server`. */
  readonly principal: string;
  readonly method: AuthMethod;
}

/**
 * The call an admin change is made for: its request id, and the actor once the access check
 * has resolved it. One frame per RPC (the admin and system services open it); the repositories
 * read it inside the transaction that makes the change.
 */
export interface AuditFrame {
  readonly requestId: string;
  actor?: AuditActor;
}

const frames = new AsyncLocalStorage<AuditFrame>();

/** Runs `fn` as one call that may change admin state. */
export function withAuditFrame<T>(requestId: string | undefined, fn: () => T): T {
  return frames.run({ requestId: (requestId ?? "").slice(0, 128) }, fn);
}

/** Names the caller of the current call (the access check calls this once it has proved it). */
export function noteAuditActor(actor: AuditActor): void {
  const frame = frames.getStore();
  if (frame) frame.actor = actor;
}

/** A change made outside any call (start-up, bootstrap, background rotation) is the server's own. */
const SERVER: AuditActor = { principal: "server", method: "system" };

/** A before/after summary: plain values only. */
export type AuditSummary = Readonly<Record<string, string | number | boolean | null | readonly string[]>>;

/** What one record says changed. */
export interface AuditChange {
  /** The org whose state changed; null for server-wide state (signing keys). */
  readonly orgId: string | null;
  /** `agent.create`, `api_key.revoke`, `policy.change`, … */
  readonly action: string;
  readonly targetKind: string;
  readonly targetId: string;
  readonly before?: AuditSummary | undefined;
  readonly after?: AuditSummary | undefined;
}

export interface AuditRecord extends AuditChange {
  readonly seq: number;
  readonly atMs: number;
  readonly actor: AuditActor;
  readonly requestId: string;
}

/**
 * Field names that can never go into a summary, whatever a caller passes: a summary says what
 * changed, never the material (secrets, digests, hashes, tokens, private keys, passwords).
 */
const SECRET_FIELD = /secret|digest|hash|token|password|private|jwk|material/i;

function scrub(summary: AuditSummary | undefined): string | null {
  if (!summary) return null;
  const kept: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(summary)) if (!SECRET_FIELD.test(k)) kept[k] = v;
  return JSON.stringify(kept);
}

export interface AuditDbRow {
  seq: number;
  at_ms: number;
  org_id: string | null;
  actor: string;
  auth_method: AuthMethod;
  action: string;
  target_kind: string;
  target_id: string;
  before: string | null;
  after: string | null;
  request_id: string;
}

export function auditRecordOf(r: AuditDbRow): AuditRecord {
  return {
    seq: r.seq,
    atMs: r.at_ms,
    orgId: r.org_id,
    actor: { principal: r.actor, method: r.auth_method },
    action: r.action,
    targetKind: r.target_kind,
    targetId: r.target_id,
    before: r.before === null ? undefined : (JSON.parse(r.before) as AuditSummary),
    after: r.after === null ? undefined : (JSON.parse(r.after) as AuditSummary),
    requestId: r.request_id,
  };
}

/** Which audit records a query wants (all optional but the org). */
export interface AuditFilter {
  readonly orgId: string;
  readonly fromMs?: number | undefined;
  readonly toMs?: number | undefined;
  readonly actor?: string | undefined;
  readonly action?: string | undefined;
  readonly targetKind?: string | undefined;
  readonly targetId?: string | undefined;
  readonly requestId?: string | undefined;
  /** Only records after this seq (oldest first), or before it when `newestFirst`. */
  readonly afterSeq?: number | undefined;
  readonly newestFirst?: boolean | undefined;
  readonly limit: number;
}

/** The column names an audit row is written with, in `auditValues`' order. */
export const AUDIT_COLUMNS =
  "at_ms, org_id, actor, auth_method, action, target_kind, target_id, before, after, request_id";

/**
 * One change's row, with the actor and request id of the current call (or the server's own
 * when there is none), the summaries scrubbed of anything secret: shared by both backends.
 */
export function auditValues(c: AuditChange, atMs: number): (string | number | null)[] {
  const frame = frames.getStore();
  const actor = frame?.actor ?? SERVER;
  return [
    atMs,
    c.orgId,
    actor.principal,
    actor.method,
    c.action,
    c.targetKind,
    c.targetId,
    scrub(c.before),
    scrub(c.after),
    frame?.requestId ?? "",
  ];
}

/**
 * The admin audit trail (migration 15): one row per admin change, written by the repository
 * that makes the change inside the same transaction, so a change that rolls back leaves none.
 */
export class AdminAuditLog {
  private readonly insert;

  constructor(
    private readonly db: Db,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.insert = db.prepare(
      `INSERT INTO admin_audit (${AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
  }

  /** Records one change; call inside the transaction that makes it. */
  record(c: AuditChange): void {
    this.insert.run(...auditValues(c, this.nowMs()));
  }

  /** One page of the org's records, keyset-paginated on seq (the order they were written in). */
  query(f: AuditFilter): AuditRecord[] {
    const where = ["org_id = ?"];
    const args: (string | number)[] = [f.orgId];
    const add = (sql: string, v: string | number | undefined) => {
      if (v === undefined || v === "") return;
      where.push(sql);
      args.push(v);
    };
    add("at_ms >= ?", f.fromMs);
    add("at_ms < ?", f.toMs);
    add("actor = ?", f.actor);
    add("action = ?", f.action);
    add("target_kind = ?", f.targetKind);
    add("target_id = ?", f.targetId);
    add("request_id = ?", f.requestId);
    add(f.newestFirst ? "seq < ?" : "seq > ?", f.afterSeq);
    const order = f.newestFirst ? "DESC" : "ASC";
    return this.db
      .prepare<(string | number)[], AuditDbRow>(
        `SELECT * FROM admin_audit WHERE ${where.join(" AND ")} ORDER BY seq ${order} LIMIT ?`,
      )
      .all(...args, f.limit)
      .map(auditRecordOf);
  }
}
