import { newId } from "../auth/secrets.js";
import { TesseraError } from "../domain/errors.js";
import type { Tier } from "../domain/tiers.js";
import { epochSeconds } from "../domain/time.js";
import type { AgentRecord, AgentRepository } from "../store/agents.js";
import type { Async } from "../store/contract/async.js";
import type { AccessControl, AdminCaller, AdminScope } from "./access.js";
import type { AgentCache } from "./agent-cache.js";
import type { CallContext } from "./context.js";
import type { Liveness } from "./liveness.js";
import { requireRoles, requireTags } from "./validate.js";

/** How deep sub-agents nest (a parent's parent's …): bounds the cycle check. */
const MAX_PARENT_DEPTH = 16;
const AGENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export interface AdminDeps {
  readonly access: AccessControl;
  readonly liveness: Liveness;
  /** Told of every agent this process changes, before the change log tells the others. */
  readonly agentCache?: Pick<AgentCache, "forget"> | undefined;
  readonly agents: Async<AgentRepository>;
  /** The roles an agent of the org may hold: the default roles and the org's custom roles in force. */
  readonly knownRoles: (orgId: string) => Promise<ReadonlySet<string>>;
  readonly now: () => Date;
}

/**
 * The admin plane's agents (service identities: core/identities.ts). Every call first proves
 * authority over an org.
 */
export class AdminCore {
  constructor(private readonly d: AdminDeps) {}

  /** The org the caller may administer for `scope` (default: everything), or a refusal. */
  adminOrg(ctx: CallContext, scope: AdminScope = "admin"): Promise<string> {
    return this.d.access.admin(ctx, scope);
  }

  /** `adminOrg`, also naming the caller's credential (never a secret) for the records it writes. */
  adminCaller(ctx: CallContext, scope: AdminScope = "admin"): Promise<AdminCaller> {
    return this.d.access.adminCaller(ctx, scope);
  }

  /** Well-formed roles that the org knows: a misspelled role would silently grant nothing. */
  private async requireKnownRoles(orgId: string, roles: readonly string[]): Promise<void> {
    requireRoles(roles);
    if (roles.length === 0) return;
    const known = await this.d.knownRoles(orgId);
    const unknown = roles.find((r) => !known.has(r));
    if (unknown !== undefined)
      throw new TesseraError(
        "ROLE_UNKNOWN",
        `role "${unknown}" is neither a default role (viewer, operator, admin) nor one the org's policies define`,
        { field: "roles", role: unknown },
      );
  }

  private nowSec(): number {
    return epochSeconds(this.d.now());
  }

  async createAgent(
    orgId: string,
    a: {
      name: string;
      tier: Tier;
      roles: readonly string[];
      tags: readonly string[];
      parentId?: string | undefined;
    },
  ): Promise<AgentRecord> {
    if (!a.name) throw new TesseraError("NAME_MISSING", "name is required");
    if (!AGENT_NAME.test(a.name))
      throw new TesseraError("NAME_MISSING", "name must be 1-128 of [A-Za-z0-9_.-]");
    await this.requireKnownRoles(orgId, a.roles);
    requireTags(a.tags);
    if (a.parentId) await this.requireParent(orgId, undefined, a.parentId);
    const agent: AgentRecord = {
      id: newId("agt"),
      orgId,
      name: a.name,
      tier: a.tier,
      roles: a.roles,
      tags: a.tags,
      parentId: a.parentId || undefined,
      createdAt: this.nowSec(),
    };
    if (!(await this.d.agents.insert(agent)))
      throw new TesseraError("AGENT_NAME_TAKEN", "the org already has an agent of that name");
    return agent;
  }

  async getAgent(orgId: string, id: string): Promise<AgentRecord> {
    const agent = id ? await this.d.agents.get(orgId, id) : undefined;
    if (!agent) throw new TesseraError("AGENT_NOT_FOUND", "no such agent in this org");
    return agent;
  }

  async listAgents(orgId: string): Promise<AgentRecord[]> {
    return this.d.agents.list(orgId);
  }

  /**
   * A parent must be another agent of the same org, and not the agent itself or one of its own
   * sub-agents (no cycles), within a bounded depth.
   */
  private async requireParent(orgId: string, childId: string | undefined, parentId: string): Promise<void> {
    let cursor: string | undefined = parentId;
    for (let depth = 0; cursor; depth++) {
      if (cursor === childId)
        throw new TesseraError("PARENT_INVALID", "an agent cannot be its own ancestor", {
          field: "parent_id",
        });
      if (depth >= MAX_PARENT_DEPTH)
        throw new TesseraError("PARENT_INVALID", `sub-agents nest at most ${MAX_PARENT_DEPTH} deep`, {
          field: "parent_id",
        });
      const parent = await this.d.agents.get(orgId, cursor);
      if (!parent)
        throw new TesseraError("AGENT_NOT_FOUND", "the parent is not an agent of this org", {
          field: "parent_id",
        });
      cursor = parent.parentId;
    }
  }

  /**
   * Tier, roles, tags and parent apply to tokens minted afterwards; existing tokens keep their
   * claims. `parentId: null` removes the parent.
   */
  async updateAgent(
    orgId: string,
    id: string,
    patch: {
      tier?: Tier | undefined;
      roles?: readonly string[] | undefined;
      tags?: readonly string[] | undefined;
      parentId?: string | null | undefined;
    },
  ): Promise<AgentRecord> {
    if (patch.roles) await this.requireKnownRoles(orgId, patch.roles);
    if (patch.tags) requireTags(patch.tags);
    if (patch.parentId && (await this.d.agents.get(orgId, id)))
      await this.requireParent(orgId, id, patch.parentId);
    const agent = await this.d.agents.update(orgId, id, patch);
    if (!agent) throw new TesseraError("AGENT_NOT_FOUND", "no such agent in this org");
    this.d.agentCache?.forget(id);
    return agent;
  }

  /** Suspends (every token it holds dies at once, here and, via the change log, everywhere) or resumes. */
  async setSuspended(orgId: string, id: string, suspended: boolean): Promise<AgentRecord> {
    const agent = await this.d.agents.setSuspended(orgId, id, suspended, this.nowSec());
    if (!agent) throw new TesseraError("AGENT_NOT_FOUND", "no such agent in this org");
    this.d.agentCache?.forget(id);
    await this.d.liveness.refreshAgent(id);
    return agent;
  }

  async deleteAgent(orgId: string, id: string): Promise<void> {
    if (!(await this.d.agents.delete(orgId, id, this.nowSec())))
      throw new TesseraError("AGENT_NOT_FOUND", "no such agent in this org");
    this.d.agentCache?.forget(id);
    await this.d.liveness.refreshAgent(id);
  }
}
