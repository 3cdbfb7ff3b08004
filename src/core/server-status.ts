import { epochSeconds } from "../domain/time.js";
import type { PolicyEngine } from "../engine/engine.js";
import type { AccessControl } from "./access.js";
import type { CallContext } from "./context.js";

export interface ServerStatusDeps {
  readonly access: AccessControl;
  readonly engine: PolicyEngine;
  readonly version: string;
  /** Server processes sharing the ports. */
  readonly workers: number;
  /** This process's cluster worker id, 0 for a single process. */
  readonly workerId: number;
  readonly now: () => Date;
}

/** What `GetServerStatus` tells: the server's, to anyone; the org's, to a caller of it. */
export interface StatusReport {
  readonly version: string;
  readonly workers: number;
  /** Which process answered: its cluster worker id, 0 for a single process. */
  readonly workerId: number;
  /** Seconds since the epoch when this process's core was built. */
  readonly startedAt: number;
  readonly uptimeSeconds: number;
  /** With an org credential: its org and the policy revision in force here. */
  readonly org?: { readonly id: string; readonly policyRevision: number } | undefined;
}

/** The answering process's status: version, workers, which worker, uptime, and the caller's org's revision. */
export class ServerStatus {
  private readonly startedAt: number;

  constructor(private readonly d: ServerStatusDeps) {
    this.startedAt = epochSeconds(d.now());
  }

  /**
   * The server's part for anyone; with a credential of an org, also that org's revision. A
   * credential that is sent but not valid is refused (UNAUTHENTICATED), never taken as absent.
   */
  async report(ctx: CallContext): Promise<StatusReport> {
    const caller = await this.d.access.caller(ctx);
    const now = epochSeconds(this.d.now());
    return {
      version: this.d.version,
      workers: this.d.workers,
      workerId: this.d.workerId,
      startedAt: this.startedAt,
      uptimeSeconds: Math.max(0, now - this.startedAt),
      org: caller ? { id: caller.orgId, policyRevision: this.d.engine.revision(caller.orgId) } : undefined,
    };
  }
}
