import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createOrg } from "../../src/core/bootstrap.js";
import { buildTessera } from "../../src/core/tessera.js";
import { openStore } from "../../src/store/store.js";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera, TEST_SETTINGS } from "../helpers/in-memory.js";
import { tempDir } from "../helpers/server.js";

const AUDITOR = `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: auditors }
spec:
  roles:
    auditor: { inherits: [viewer] }
  rules:
    - { name: logs, scopes: ["logs:read"], effect: allow, roles: [auditor] }
`;

/**
 * Issue #10: an agent given a role nobody defined (a typo of `operator`, a role of a policy
 * not yet applied) would silently match no rule; it is refused naming the role.
 */
describe("agents hold only roles the org knows", () => {
  let t: InMemoryTessera;
  let admin: { headers: Record<string, string> };
  beforeEach(async () => {
    t = await inMemoryTessera();
    admin = { headers: t.adminHeaders };
  });
  afterEach(() => t.close());

  it("refuses an unknown role in CreateAgent and UpdateAgent, writing nothing", async () => {
    const refused = await failure(t.admin.createAgent({ name: "typo", roles: ["operater"] }, admin));
    expect(refused).toEqual({
      code: Code.InvalidArgument,
      reason: "ROLE_UNKNOWN",
      metadata: { field: "roles", role: "operater" },
    });
    expect((await t.admin.listAgents({}, admin)).agents).toEqual([]);
    const agent = (await t.admin.createAgent({ name: "ok", roles: ["viewer", "operator", "admin"] }, admin))
      .agent;
    const update = t.admin.updateAgent({ id: agent?.id ?? "", roles: ["auditor"], setRoles: true }, admin);
    expect(await failure(update)).toMatchObject({ code: Code.InvalidArgument, reason: "ROLE_UNKNOWN" });
    expect((await t.admin.getAgent({ id: agent?.id ?? "" }, admin)).agent?.roles).toEqual([
      "viewer",
      "operator",
      "admin",
    ]);
  });

  it("knows the org's custom roles once a policy defining them is in force, and forgets them with it", async () => {
    await t.admin.putPolicy({ document: AUDITOR }, admin);
    const agent = (await t.admin.createAgent({ name: "aud", roles: ["auditor"] }, admin)).agent;
    expect(agent?.roles).toEqual(["auditor"]);
    await t.admin.deletePolicy({ name: "auditors" }, admin);
    const again = t.admin.createAgent({ name: "aud2", roles: ["auditor"] }, admin);
    expect(await failure(again)).toMatchObject({ reason: "ROLE_UNKNOWN" });
  });

  it("still refuses a malformed role name as ROLE_INVALID", async () => {
    const bad = t.admin.createAgent({ name: "x", roles: ["Not A Role"] }, admin);
    expect(await failure(bad)).toMatchObject({ reason: "ROLE_INVALID" });
  });
});

describe("a custom role is known to a process that has not compiled its policy yet", () => {
  it("reads the stored revision when the compiled one is behind", async () => {
    const tmp = tempDir();
    const a = openStore(tmp.dir);
    const b = openStore(tmp.dir);
    try {
      const ta = await buildTessera(a, { ...TEST_SETTINGS, decisionLog: false });
      const tb = await buildTessera(b, { ...TEST_SETTINGS, decisionLog: false });
      const { orgId } = await createOrg(a, "shared", new Date());
      await ta.policies.put(orgId, AUDITOR);
      // b has no sync loop running: its engine still has no policy for the org.
      expect(tb.engine.revision(orgId)).toBe(0);
      const agent = await tb.admin.createAgent(orgId, {
        name: "aud",
        tier: "verified",
        roles: ["auditor"],
        tags: [],
      });
      expect(agent.roles).toEqual(["auditor"]);
    } finally {
      a.close();
      b.close();
      tmp.cleanup();
    }
  });
});
