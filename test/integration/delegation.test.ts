import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { createOrg } from "../../src/core/bootstrap.js";
import { jwtPayload } from "../helpers/e2e.js";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera } from "../helpers/in-memory.js";
import {
  adminMint,
  agentLogin,
  authorizeToken,
  bearer,
  ManualClock,
  newAgent,
} from "../helpers/lifecycle.js";

/** Issue #9, finding 3 and 6: delegation never speaks for another agent, and dies with its minter. */
describe("delegation: only to sub-agents, never more than both, never past the minter", () => {
  let t: InMemoryTessera;
  const clock = new ManualClock();
  let minter = { id: "", token: "" };
  let sub = "";
  let sibling = "";
  const writes = () => (t.store.db.prepare("SELECT total_changes() AS n").get() as { n: number }).n;
  const mint = (token: string, agentId: string, extra: { tier?: Tier; scopes?: string[] } = {}) =>
    t.auth.mintToken(
      { agentId, scopes: extra.scopes ?? ["governance:read"], ...(extra.tier ? { tier: extra.tier } : {}) },
      { headers: bearer(token) },
    );

  beforeEach(async () => {
    t = await inMemoryTessera(clock.now);
    const m = await newAgent(t, "minter", { tier: Tier.TRUSTED, roles: ["operator"], tags: ["pci", "eu"] });
    minter = { id: m.id, token: await adminMint(t, m.id, ["governance:*"]) };
    sub = (
      await newAgent(t, "sub", {
        tier: Tier.VERIFIED,
        roles: ["operator"],
        tags: ["eu", "us"],
        parentId: m.id,
      })
    ).id;
    sibling = (await newAgent(t, "sibling", { tier: Tier.PRIVILEGED, roles: ["admin"], tags: ["pci"] })).id;
  });
  afterEach(() => t.close());

  it("refuses a token for an agent that is not the minter's sub-agent, and writes nothing", async () => {
    const before = writes();
    const f = await failure(mint(minter.token, sibling));
    expect(f).toMatchObject({ code: Code.PermissionDenied, reason: "DELEGATION_FORBIDDEN" });
    expect(writes()).toBe(before);
    // Nor may a sub-agent mint for its own parent.
    const subToken = (await mint(minter.token, sub)).token;
    expect(await failure(mint(subToken, minter.id))).toMatchObject({ reason: "DELEGATION_FORBIDDEN" });
  });

  it("refuses a logged-in agent session the identity of another agent of its org", async () => {
    const session = await agentLogin(t, minter.id);
    // The session holds every scope: that must not let it speak for anyone else.
    const f = await failure(mint(session.access, sibling, { scopes: ["*"] }));
    expect(f).toMatchObject({ code: Code.PermissionDenied, reason: "DELEGATION_FORBIDDEN" });
    expect(jwtPayload((await mint(session.access, minter.id)).token).sub).toBe(minter.id);
  });

  it("caps the tier at the lower of the minter's and the target's, and intersects tags", async () => {
    const minted = jwtPayload((await mint(minter.token, sub)).token);
    // The minter is trusted, the sub-agent only verified: the token is verified.
    expect(minted).toMatchObject({ sub, tier: "verified", tags: ["eu"] });
    const f = await failure(mint(minter.token, sub, { tier: Tier.TRUSTED }));
    expect(f).toMatchObject({ reason: "ATTENUATION_VIOLATED", metadata: { field: "tier" } });
  });

  it("refuses a parent from another org, or one that would make a cycle", async () => {
    const other = await createOrg(t.store, "other", clock.now());
    const otherHeaders = { headers: { "x-api-key": other.apiKey, "x-admin-token": other.adminToken } };
    const f = await failure(t.admin.createAgent({ name: "x", parentId: minter.id }, otherHeaders));
    expect(f).toMatchObject({
      code: Code.NotFound,
      reason: "AGENT_NOT_FOUND",
      metadata: { field: "parent_id" },
    });
    const cycle = await failure(
      t.admin.updateAgent({ id: minter.id, parentId: sub, setParent: true }, { headers: t.adminHeaders }),
    );
    expect(cycle).toMatchObject({ code: Code.InvalidArgument, reason: "PARENT_INVALID" });
    const self = await failure(
      t.admin.updateAgent({ id: sub, parentId: sub, setParent: true }, { headers: t.adminHeaders }),
    );
    expect(self).toMatchObject({ reason: "PARENT_INVALID" });
    const moved = await t.admin.updateAgent({ id: sub, setParent: true }, { headers: t.adminHeaders });
    expect(moved.agent?.parentId).toBe("");
    expect(await failure(mint(minter.token, sub))).toMatchObject({ reason: "DELEGATION_FORBIDDEN" });
  });

  const chainKillers: [string, () => Promise<unknown>][] = [
    ["suspending the minter", () => t.admin.suspendAgent({ id: minter.id }, { headers: t.adminHeaders })],
    ["deleting the minter", () => t.admin.deleteAgent({ id: minter.id }, { headers: t.adminHeaders })],
    [
      "revoking the token it minted with",
      () => t.auth.revokeToken({ token: minter.token }, { headers: { "x-api-key": t.org.apiKey } }),
    ],
  ];
  it.each(chainKillers)("ends a delegated token when %s", async (_name, kill) => {
    const delegated = (await mint(minter.token, sub)).token;
    expect((await authorizeToken(t, delegated)).decision).toBeDefined();
    clock.advance(1);
    await kill();
    const f = await failure(authorizeToken(t, delegated));
    expect(f.code).toBe(Code.Unauthenticated);
    expect(["TOKEN_REVOKED", "AGENT_SUSPENDED"]).toContain(f.reason);
  });

  it("ends a token delegated from a session when the session is logged out", async () => {
    const session = await agentLogin(t, minter.id);
    const delegated = (await mint(session.access, sub)).token;
    expect(jwtPayload(delegated).act).toMatchObject({ sub: minter.id, sid: jwtPayload(session.access).sid });
    await t.auth.logout({ refreshToken: session.refresh });
    expect(await failure(authorizeToken(t, delegated))).toMatchObject({ reason: "TOKEN_REVOKED" });
  });

  it("shows policies the token's grants and its delegation chain", async () => {
    await t.admin.putPolicy(
      {
        document: `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: rooms }
spec:
  rules:
    - name: join
      scopes: ["room:join"]
      effect: allow
      condition: 'principal.grants.room == resource.id'
    - name: other-room
      scopes: ["room:join"]
      effect: deny
      condition: 'principal.grants.room != resource.id'
    - name: direct-only
      scopes: ["room:admin"]
      effect: allow
      condition: 'size(principal.act) == 0'
    - name: delegated-by
      scopes: ["room:watch"]
      effect: allow
      condition: '"${minter.id}" in principal.act'
`,
      },
      { headers: t.adminHeaders },
    );
    const own = (
      await t.auth.mintToken(
        { agentId: minter.id, scopes: ["room:*"], grants: { room: "r1" } },
        { headers: t.adminHeaders },
      )
    ).token;
    const ask = (token: string, scope: string, room: string) =>
      t.auth.authorize({
        subject: { case: "token", value: token },
        scope,
        resource: { kind: "room", id: room },
      });
    expect((await ask(own, "room:join", "r1")).decision).toBe(Decision.ALLOW);
    expect(await ask(own, "room:join", "r2")).toMatchObject({
      decision: Decision.DENY,
      rule: "rooms/other-room",
    });
    expect((await ask(own, "room:admin", "r1")).decision).toBe(Decision.ALLOW);
    const delegated = (
      await t.auth.mintToken(
        { agentId: sub, scopes: ["room:admin", "room:watch"], grants: { room: "r1" } },
        { headers: bearer(own) },
      )
    ).token;
    expect((await ask(delegated, "room:admin", "r1")).decision).toBe(Decision.DENY);
    expect((await ask(delegated, "room:watch", "r1")).decision).toBe(Decision.ALLOW);
  });
});
