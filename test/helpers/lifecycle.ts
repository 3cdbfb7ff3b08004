import type { Agent } from "../../gen/tessera/v1/types_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import type { InMemoryTessera } from "./in-memory.js";

/** The header an agent or user presents its own access token in. */
export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** Creates an agent through the admin client (verified operator unless told otherwise; optionally a sub-agent). */
export async function newAgent(
  t: InMemoryTessera,
  name: string,
  opts: { tier?: Tier; roles?: string[]; tags?: string[]; parentId?: string } = {},
): Promise<Agent> {
  const { agent } = await t.admin.createAgent(
    {
      name,
      tier: opts.tier ?? Tier.VERIFIED,
      roles: opts.roles ?? ["operator"],
      tags: opts.tags ?? [],
      parentId: opts.parentId ?? "",
    },
    { headers: t.adminHeaders },
  );
  if (!agent) throw new Error("CreateAgent returned no agent");
  return agent;
}

// One secret per agent (agent ids are unique), made at its first login: a new secret would end
// the agent's other sessions, which tests of several sessions need alive.
const secrets = new Map<string, string>();

/** A login with the agent's secret (created on first use) that issues a token pair. */
export async function agentLogin(t: InMemoryTessera, agentId: string) {
  const secret =
    secrets.get(agentId) ??
    (await t.admin.createAgentSecret({ agentId }, { headers: t.adminHeaders })).secret;
  secrets.set(agentId, secret);
  const res = await t.auth.authenticate({
    credential: { case: "agentSecret", value: { agentId, secret } },
    issueTokens: true,
  });
  if (!res.tokens) throw new Error("Authenticate returned no tokens");
  return {
    secret,
    principal: res.principal,
    access: res.tokens.accessToken,
    refresh: res.tokens.refreshToken,
  };
}

/** Authorize with a token subject; resolves to the response (a deny is data) or rejects. */
export function authorizeToken(t: InMemoryTessera, token: string, scope = "governance:read") {
  return t.auth.authorize({ subject: { case: "token", value: token }, scope });
}

/** Mints a token for an agent with the org's admin pair. */
export async function adminMint(
  t: InMemoryTessera,
  agentId: string,
  scopes: string[],
  ttl = 600n,
): Promise<string> {
  return (await t.auth.mintToken({ agentId, scopes, ttl: { seconds: ttl } }, { headers: t.adminHeaders }))
    .token;
}

/** A clock tests move by hand. */
export class ManualClock {
  private ms: number;
  constructor(start = "2026-11-23T12:00:00Z") {
    this.ms = Date.parse(start);
  }
  readonly now = (): Date => new Date(this.ms);
  get sec(): number {
    return Math.floor(this.ms / 1000);
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}
