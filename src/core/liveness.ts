import type { AccessClaims } from "../auth/token-claims.js";
import { TesseraError } from "../domain/errors.js";
import { epochSeconds } from "../domain/time.js";
import type { Change } from "../store/changes.js";
import type { TesseraStore } from "../store/contract/store.js";
import type { LivenessFingerprint } from "../store/liveness-fingerprint.js";

interface AgentFloor {
  readonly suspended: boolean;
  /** Tokens issued at or before this second are dead. */
  readonly validAfter: number;
}

/**
 * Whether a verified token may still be used: not revoked by jti, not from a revoked session,
 * not held by a suspended, deleted or floored agent — and the same for every link of its
 * delegation chain (the minters and the tokens they minted with). All in memory, so the
 * per-request check is a few map lookups; other processes' changes arrive through the change
 * log, and what a restart must not forget (revocations, suspensions, deletions) is loaded from
 * the store.
 */
export class Liveness {
  private readonly jtis = new Map<string, number>();
  private readonly families = new Map<string, number>();
  private readonly agents = new Map<string, AgentFloor>();
  /** Deleted agents and when they were deleted (their tombstones). */
  private readonly deleted = new Map<string, number>();

  /**
   * @param tombstoneSeconds how long a deleted agent's tokens can outlive it (the longest token
   *   lifetime plus clock tolerance): its tombstone is kept that long.
   */
  private constructor(
    private readonly store: TesseraStore,
    private readonly now: () => Date,
    private readonly tombstoneSeconds: number,
  ) {}

  /** Loads what a restart must not forget. */
  static async open(store: TesseraStore, now: () => Date, tombstoneSeconds = 3610): Promise<Liveness> {
    const l = new Liveness(store, now, tombstoneSeconds);
    await l.load();
    return l;
  }

  /**
   * (Re)reads everything from the store: at start, and to repair a copy that drifted. Read
   * first, then swapped in at once, so a check never sees a half-loaded copy.
   */
  private async load(): Promise<void> {
    const nowSec = this.nowSec();
    const [revocations, restricted, tombstones] = [
      await this.store.revocations.live(nowSec),
      await this.store.agents.restricted(),
      await this.store.agents.tombstones(),
    ];
    for (const m of [this.jtis, this.families, this.agents, this.deleted]) m.clear();
    for (const r of revocations) this.remember(r.kind, r.value, r.expiresAt);
    for (const a of restricted) this.agents.set(a.id, floorOf(a));
    for (const t of tombstones) this.deleted.set(t.id, t.deletedAt);
  }

  /** The same sums as `storedLivenessFingerprint`, over what this process holds. */
  fingerprint(nowSec = this.nowSec()): LivenessFingerprint {
    let revocations = 0;
    let revocationExpirySum = 0;
    let revocationLengthSum = 0;
    for (const m of [this.jtis, this.families]) {
      for (const [value, exp] of m) {
        if (exp <= nowSec) continue;
        revocations++;
        revocationExpirySum += exp;
        revocationLengthSum += value.length;
      }
    }
    let restricted = 0;
    let suspended = 0;
    let floorSum = 0;
    for (const f of this.agents.values()) {
      if (!f.suspended && f.validAfter <= 0) continue;
      restricted++;
      if (f.suspended) suspended++;
      floorSum += f.validAfter;
    }
    let tombstones = 0;
    for (const at of this.deleted.values()) if (at > nowSec - this.tombstoneSeconds) tombstones++;
    return {
      revocations,
      revocationExpirySum,
      revocationLengthSum,
      restricted,
      suspended,
      floorSum,
      tombstones,
    };
  }

  /**
   * Compares this process's copy with the store and, when they differ (a change the log no
   * longer holds, a bug), reloads it whole. True when it had to repair.
   */
  async verify(): Promise<boolean> {
    const nowSec = this.nowSec();
    const stored = await this.store.livenessFingerprint(nowSec, nowSec - this.tombstoneSeconds);
    const mine = this.fingerprint(nowSec);
    if (Object.entries(stored).every(([k, v]) => mine[k as keyof LivenessFingerprint] === v)) return false;
    await this.load();
    return true;
  }

  private nowSec(): number {
    return epochSeconds(this.now());
  }

  private remember(kind: "jti" | "family", value: string, expiresAt: number): void {
    (kind === "jti" ? this.jtis : this.families).set(value, expiresAt);
  }

  /** Throws TOKEN_REVOKED / AGENT_SUSPENDED when the token must no longer work. */
  check(c: AccessClaims): void {
    if (this.jtis.has(c.jti) || (c.sid !== undefined && this.families.has(c.sid))) {
      throw new TesseraError("TOKEN_REVOKED", "the token has been revoked");
    }
    // A delegated token lives only as long as everyone it was delegated through.
    for (let a = c.act; a !== undefined; a = a.act) {
      if ((a.jti !== undefined && this.jtis.has(a.jti)) || (a.sid !== undefined && this.families.has(a.sid)))
        throw new TesseraError("TOKEN_REVOKED", "a token it was delegated from has been revoked");
      this.checkAgent(a.sub, c.iat);
    }
    if (c.kind !== "user") this.checkAgent(c.sub, c.iat);
  }

  /** An agent's tokens (or tokens delegated through it) issued at `iat` must still be honoured. */
  private checkAgent(id: string, iat: number): void {
    if (this.deleted.has(id)) throw new TesseraError("TOKEN_REVOKED", "the token's agent no longer exists");
    const floor = this.agents.get(id);
    if (floor === undefined) return;
    if (floor.suspended) throw new TesseraError("AGENT_SUSPENDED", "the token's agent is suspended");
    if (iat <= floor.validAfter)
      throw new TesseraError("TOKEN_REVOKED", "the token predates its agent's suspension");
  }

  /** Revokes one access token until it would have expired. */
  async revokeJti(jti: string, exp: number): Promise<void> {
    await this.store.revocations.revoke("jti", jti, exp);
    this.remember("jti", jti, exp);
  }

  /** Revokes a whole session (refresh family) and the access tokens it issued. */
  async revokeFamily(sid: string, until: number): Promise<void> {
    await this.store.revocations.revoke("family", sid, until);
    this.remember("family", sid, until);
  }

  familyRevoked(sid: string): boolean {
    return this.families.has(sid);
  }

  /** Re-reads one agent after a suspension, resumption or deletion anywhere. */
  async refreshAgent(id: string): Promise<void> {
    const a = await this.store.agents.byId(id);
    if (!a) {
      // Gone: the deletion wrote a tombstone in its transaction; mirror it.
      if (!this.deleted.has(id)) this.deleted.set(id, this.nowSec());
      this.agents.delete(id);
      return;
    }
    this.agents.set(id, floorOf(a));
  }

  /** Applies a change another process made. */
  async apply(c: Change): Promise<void> {
    if (c.kind === "agent" && c.ref) await this.refreshAgent(c.ref);
    if (c.kind === "token_revoked" && c.ref) {
      const [kind, value] = [c.ref.slice(0, c.ref.indexOf(":")), c.ref.slice(c.ref.indexOf(":") + 1)];
      if (kind !== "jti" && kind !== "family") return;
      const exp = await this.store.revocations.get(kind, value);
      if (exp !== undefined) this.remember(kind, value, exp);
    }
  }

  /** Forgets revocations and tombstones of tokens that have expired anyway (bounded memory). */
  prune(): void {
    const nowSec = this.nowSec();
    for (const m of [this.jtis, this.families]) for (const [k, exp] of m) if (exp <= nowSec) m.delete(k);
    for (const [id, at] of this.deleted) if (at + this.tombstoneSeconds <= nowSec) this.deleted.delete(id);
  }
}

function floorOf(a: { suspendedAt?: number | undefined; tokensValidAfter?: number | undefined }): AgentFloor {
  return { suspended: a.suspendedAt !== undefined, validAfter: a.tokensValidAfter ?? 0 };
}
