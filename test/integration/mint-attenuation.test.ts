import type { JsonObject } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { createOrg } from "../../src/core/bootstrap.js";
import { jwtPayload } from "../helpers/e2e.js";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera } from "../helpers/in-memory.js";
import { agentLogin, bearer, ManualClock, newAgent } from "../helpers/lifecycle.js";

interface Ask {
  scopes?: string[];
  grants?: { room?: string; role?: string; tunnelPorts?: string; api?: JsonObject };
  tier?: Tier;
  ttl?: number;
}

const API: JsonObject = { storage: { read: true, buckets: ["a", "b"] }, containers: { list: true } };

describe("MintToken by an agent: attenuation and delegation chains", () => {
  let t: InMemoryTessera;
  const clock = new ManualClock();
  const ids: Record<string, string> = {};
  let parent = ""; // parent's token: trusted, governance:* + audit:read, every grant, 600 s

  beforeAll(async () => {
    t = await inMemoryTessera(clock.now);
    ids.parent = (await newAgent(t, "parent", { tier: Tier.TRUSTED, roles: ["operator"] })).id;
    // A line of sub-agents: each may be minted for only by the one above it.
    let above = ids.parent;
    for (const name of ["child", "grandchild", "great", "fourth"]) {
      const agent = await newAgent(t, name, {
        tier: Tier.PRIVILEGED,
        roles: ["admin", "viewer"],
        parentId: above,
      });
      ids[name] = agent.id;
      above = agent.id;
    }
    const minted = await t.auth.mintToken(
      {
        agentId: ids.parent,
        scopes: ["governance:*", "audit:read"],
        grants: { room: "r1", role: "agent", tunnelPorts: "80,443", api: API },
        ttl: { seconds: 600n },
      },
      { headers: t.adminHeaders },
    );
    parent = minted.token;
  });
  afterAll(() => t.close());

  const mint = (minter: string, agentId: string, a: Ask = {}) =>
    t.auth.mintToken(
      {
        agentId,
        scopes: a.scopes ?? ["governance:read"],
        ...(a.grants ? { grants: a.grants } : {}),
        ...(a.tier ? { tier: a.tier } : {}),
        ...(a.ttl ? { ttl: { seconds: BigInt(a.ttl) } } : {}),
      },
      { headers: bearer(minter) },
    );
  const writes = () => (t.store.db.prepare("SELECT total_changes() AS n").get() as { n: number }).n;

  it("mints a subset with a lower tier, an earlier expiry, the minter's roles only, and act = minter", async () => {
    const res = await mint(parent, ids.child ?? "", {
      scopes: ["governance:read", "audit:read"],
      grants: { room: "r1", tunnelPorts: "443", api: { storage: { buckets: ["a"] } } },
      tier: Tier.VERIFIED,
      ttl: 300,
    });
    const c = jwtPayload(res.token);
    const p = jwtPayload(parent);
    expect(c).toMatchObject({
      sub: ids.child,
      scopes: ["governance:read", "audit:read"],
      grants: { room: "r1", tunnel_ports: "443", api: { storage: { buckets: ["a"] } } },
      tier: "verified",
      act: { sub: ids.parent },
    });
    // The child agent holds admin and viewer; a parent that is an operator passes on only viewer.
    expect(c.roles).toEqual(["viewer"]);
    expect(c.exp).toBe(clock.sec + 300);
    expect(c.exp as number).toBeLessThanOrEqual(p.exp as number);
    // Unset tier: the target's (privileged), capped at the minter's.
    expect(jwtPayload((await mint(parent, ids.child ?? "")).token).tier).toBe("trusted");
  });

  const VIOLATIONS: [string, Ask, string][] = [
    ["a scope outside the minter's", { scopes: ["secrets:read"] }, "scopes"],
    ["a wider pattern than held", { scopes: ["*"] }, "scopes"],
    ["a domain wildcard over a held verb", { scopes: ["audit:*"] }, "scopes"],
    ["another room", { grants: { room: "r2" } }, "grants"],
    ["another role grant", { grants: { role: "tool" } }, "grants"],
    ["a port not held", { grants: { tunnelPorts: "22" } }, "grants"],
    ["held ports plus one", { grants: { tunnelPorts: "443,8443" } }, "grants"],
    ["an api section not held", { grants: { api: { secrets: {} } } }, "grants"],
    ["a nested api permission not held", { grants: { api: { storage: { write: true } } } }, "grants"],
    ["a nested api value changed", { grants: { api: { storage: { read: false } } } }, "grants"],
    ["a nested api list item not held", { grants: { api: { storage: { buckets: ["c"] } } } }, "grants"],
    ["a higher tier", { tier: Tier.PRIVILEGED }, "tier"],
    ["a later expiry", { ttl: 601 }, "ttl"],
  ];

  it.each(VIOLATIONS)("refuses %s with ATTENUATION_VIOLATED and writes nothing", async (_n, ask, field) => {
    const agents = await t.admin.listAgents({}, { headers: t.adminHeaders });
    const before = writes();
    const f = await failure(mint(parent, ids.child ?? "", ask));
    expect(f).toMatchObject({
      code: Code.PermissionDenied,
      reason: "ATTENUATION_VIOLATED",
      metadata: { field },
    });
    expect(writes()).toBe(before);
    expect(await t.admin.listAgents({}, { headers: t.adminHeaders })).toEqual(agents);
  });

  it("refuses any grant to a minter that holds none", async () => {
    const child = (await mint(parent, ids.child ?? "", { scopes: ["governance:read"] })).token;
    const f = await failure(mint(child, ids.grandchild ?? "", { grants: { room: "r1" } }));
    expect(f).toMatchObject({ code: Code.PermissionDenied, reason: "ATTENUATION_VIOLATED" });
  });

  it("records the chain in act and refuses chains deeper than the maximum (3)", async () => {
    const child = (await mint(parent, ids.child ?? "")).token;
    const grand = (await mint(child, ids.grandchild ?? "")).token;
    const great = (await mint(grand, ids.great ?? "")).token;
    // Each link names the minter and the token it minted with.
    expect(jwtPayload(grand).act).toEqual({
      sub: ids.child,
      jti: jwtPayload(child).jti,
      act: { sub: ids.parent, jti: jwtPayload(parent).jti },
    });
    expect(jwtPayload(great).act).toMatchObject({
      sub: ids.grandchild,
      act: { sub: ids.child, act: { sub: ids.parent } },
    });
    const before = writes();
    const f = await failure(mint(great, ids.fourth ?? ""));
    expect(f).toMatchObject({ code: Code.PermissionDenied, reason: "DELEGATION_TOO_DEEP" });
    expect(writes()).toBe(before);
  });

  it("lets a logged-in agent session attenuate, and never reach another org's agent", async () => {
    const s = await agentLogin(t, ids.parent ?? "");
    const res = await mint(s.access, ids.child ?? "", { scopes: ["anything:at-all"], ttl: 60 });
    expect(jwtPayload(res.token)).toMatchObject({ act: { sub: ids.parent }, tier: "trusted" });
    expect(await failure(mint(s.access, ids.child ?? "", { tier: Tier.PRIVILEGED }))).toMatchObject({
      reason: "ATTENUATION_VIOLATED",
    });
    const other = await createOrg(t.store, "other", clock.now());
    const { agent } = await t.admin.createAgent(
      { name: "theirs" },
      { headers: { "x-api-key": other.apiKey, "x-admin-token": other.adminToken } },
    );
    const foreign = await failure(mint(parent, agent?.id ?? ""));
    expect(foreign).toMatchObject({ code: Code.NotFound, reason: "AGENT_NOT_FOUND" });
  });

  it("refuses an admin a tier above the target agent's", async () => {
    const f = await failure(
      t.auth.mintToken(
        { agentId: ids.parent ?? "", scopes: ["a:b"], tier: Tier.PRIVILEGED },
        { headers: t.adminHeaders },
      ),
    );
    expect(f).toMatchObject({
      code: Code.PermissionDenied,
      reason: "ATTENUATION_VIOLATED",
      metadata: { field: "tier" },
    });
  });
});
