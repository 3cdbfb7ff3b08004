import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { createOrg, type NewOrg } from "../../src/core/bootstrap.js";
import { openStore } from "../../src/store/store.js";
import { cliEnv, cliFlags, runTessera } from "../helpers/cli.js";
import { adminHeaders, expectFailure, expectOk } from "../helpers/e2e.js";
import { type GrpcFixture, startGrpcFixture } from "../helpers/grpc-fixture.js";
import { tempDir } from "../helpers/server.js";

/**
 * Issue #11, "The caller's org decides", on a real server with a real grpc-js client: org A's
 * caller presenting org B's token is refused until A trusts B, and then A's policies decide —
 * A denying everything while B allows everything answers DENY.
 */

const policy = (name: string, rules: string) => `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: ${name} }
spec:
  rules:
${rules}`;
const B_ALLOWS_ALL = policy("b-open", `    - { name: all, scopes: ["*"], effect: allow }\n`);
const A_DENIES_ALL = policy("a-closed", `    - { name: nothing, scopes: ["*"], effect: deny }\n`);
const aAllowsB = (orgId: string) =>
  policy(
    "a-partners",
    `    - name: partner-reads
      scopes: ["reports:read"]
      effect: allow
      condition: 'principal.org == "${orgId}"'
`,
  );

describe("cross-org trust on a real server", { timeout: 60_000 }, () => {
  let f: GrpcFixture;
  /** Org A (the development org): admin headers, and its API key alone as an Authorize caller. */
  let aAdmin: Record<string, string>;
  let aKey: Record<string, string>;
  let b: NewOrg;
  let c: NewOrg;
  let bToken = "";

  beforeAll(async () => {
    f = await startGrpcFixture();
    aAdmin = f.admin;
    aKey = { "x-api-key": aAdmin["x-api-key"] ?? "" };
    b = f.other;
    const store = openStore(f.server.dataDir);
    try {
      c = await createOrg(store, "c", new Date());
    } finally {
      void store.close();
    }
    expectOk(await f.c.admin.call("putPolicy", { document: B_ALLOWS_ALL }, adminHeaders(b)));
    expectOk(await f.c.admin.call("putPolicy", { document: A_DENIES_ALL }, aAdmin));
    bToken = expectOk(
      await f.c.auth.call(
        "mintToken",
        { agentId: f.otherAgentId, scopes: ["reports:read"], ttl: { seconds: 600n } },
        adminHeaders(b),
      ),
    ).token;
  });
  afterAll(async () => {
    await f?.close();
  });

  const ask = (headers: Record<string, string>, token = bToken) =>
    f.c.auth.call("authorize", { subject: { case: "token", value: token }, scope: "reports:read" }, headers);
  const askBatch = (headers: Record<string, string>) =>
    f.c.auth.call(
      "authorizeBatch",
      { subject: { case: "token", value: bToken }, checks: [{ scope: "reports:read" }] },
      headers,
    );
  const trusted = async (headers: Record<string, string>) =>
    expectOk(await f.c.admin.call("listTrustedOrgs", {}, headers)).orgs.map((o) => o.orgId);
  const mismatch = (res: Awaited<ReturnType<typeof ask>> | Awaited<ReturnType<typeof askBatch>>) =>
    expectFailure(res, grpc.status.UNAUTHENTICATED, "TOKEN_ORG_MISMATCH");

  it("refuses B's token to A's caller without trust: TOKEN_ORG_MISMATCH, not B's ALLOW", async () => {
    mismatch(await ask(aKey));
    mismatch(await askBatch(aKey));
    // B's own caller gets B's answer: the token itself is fine.
    expect(expectOk(await ask({ "x-api-key": b.apiKey })).decision).toBe(Decision.ALLOW);
  });

  it("lets no credential without trust:manage manage trust: PERMISSION_DENIED with its reason", async () => {
    const policiesKey = expectOk(
      await f.c.admin.call("createApiKey", { name: "ci", scopes: ["policies:manage"] }, aAdmin),
    ).apiKey;
    const agent = { authorization: `Bearer ${f.token}` };
    for (const [headers, reason] of [
      [{ "x-api-key": policiesKey }, "API_KEY_SCOPE_MISSING"],
      [agent, "ROLE_FORBIDDEN"],
    ] as const) {
      expectFailure(
        await f.c.admin.call("trustOrg", { orgId: b.orgId }, headers),
        grpc.status.PERMISSION_DENIED,
        reason,
      );
      expectFailure(
        await f.c.admin.call("untrustOrg", { orgId: b.orgId }, headers),
        grpc.status.PERMISSION_DENIED,
        reason,
      );
      expectFailure(
        await f.c.admin.call("listTrustedOrgs", {}, headers),
        grpc.status.PERMISSION_DENIED,
        reason,
      );
    }
    // The org's API key alone names the org but proves no authority.
    expectFailure(
      await f.c.admin.call("trustOrg", { orgId: b.orgId }, aKey),
      grpc.status.UNAUTHENTICATED,
      "ADMIN_TOKEN_MISSING",
    );
    expect(await trusted(aAdmin)).toEqual([]);
    mismatch(await ask(aKey));
  });

  it("refuses to trust A itself or an unknown org, and to untrust an org A does not trust", async () => {
    const aOrg = f.server.org.orgId;
    expectFailure(
      await f.c.admin.call("trustOrg", { orgId: aOrg }, aAdmin),
      grpc.status.INVALID_ARGUMENT,
      "TRUST_OWN_ORG",
    );
    expectFailure(
      await f.c.admin.call("trustOrg", { orgId: "org_unknown" }, aAdmin),
      grpc.status.NOT_FOUND,
      "ORG_NOT_FOUND",
    );
    expectFailure(
      await f.c.admin.call("untrustOrg", { orgId: b.orgId }, aAdmin),
      grpc.status.NOT_FOUND,
      "TRUST_NOT_FOUND",
    );
    expect(await trusted(aAdmin)).toEqual([]);
  });

  it("decides B's token under A's policies once A trusts B: A's DENY over B's ALLOW, then A's allow rule", async () => {
    expect(expectOk(await f.c.admin.call("trustOrg", { orgId: b.orgId }, aAdmin)).trusted?.orgId).toBe(
      b.orgId,
    );
    // Trusting again changes nothing.
    expectOk(await f.c.admin.call("trustOrg", { orgId: b.orgId }, aAdmin));
    expect(await trusted(aAdmin)).toEqual([b.orgId]);
    expect(expectOk(await ask(aKey))).toMatchObject({
      decision: Decision.DENY,
      reason: "DENIED_BY_RULE",
      rule: "a-closed/nothing",
    });
    expect(expectOk(await askBatch(aKey)).results.map((r) => r.decision)).toEqual([Decision.DENY]);
    expectOk(await f.c.admin.call("deletePolicy", { name: "a-closed" }, aAdmin));
    expectOk(await f.c.admin.call("putPolicy", { document: aAllowsB(b.orgId) }, aAdmin));
    expect(expectOk(await ask(aKey))).toMatchObject({
      decision: Decision.ALLOW,
      rule: "a-partners/partner-reads",
    });
    // A's caller may be a bearer token of A's, too.
    expect(expectOk(await ask({ authorization: `Bearer ${f.token}` })).decision).toBe(Decision.ALLOW);
  });

  it("is one-directional: A trusting B does not let B's callers present A's tokens", async () => {
    expect(await trusted(aAdmin)).toEqual([b.orgId]);
    mismatch(await ask({ "x-api-key": b.apiKey }, f.token));
    expect(await trusted(adminHeaders(b))).toEqual([]);
  });

  it("cannot be made to affect org C: C's callers stay refused, and C's own trust is C's", async () => {
    mismatch(await ask({ "x-api-key": c.apiKey }));
    expect(await trusted(adminHeaders(c))).toEqual([]);
    // C trusts B on its own; A ending its trust ends only A's.
    expectOk(await f.c.admin.call("trustOrg", { orgId: b.orgId }, adminHeaders(c)));
    expectOk(await f.c.admin.call("untrustOrg", { orgId: b.orgId }, aAdmin));
    expect(expectOk(await ask({ "x-api-key": c.apiKey })).reason).toBe("NO_MATCHING_RULE");
    expect(await trusted(adminHeaders(c))).toEqual([b.orgId]);
    expectOk(await f.c.admin.call("untrustOrg", { orgId: b.orgId }, adminHeaders(c)));
  });

  it("refuses B's token again once A untrusts B", async () => {
    expect(await trusted(aAdmin)).toEqual([]);
    mismatch(await ask(aKey));
    mismatch(await askBatch(aKey));
  });

  it("keeps refusing a suspended B agent's token, trust or not", async () => {
    expectOk(await f.c.admin.call("trustOrg", { orgId: b.orgId }, aAdmin));
    const { agent } = expectOk(
      await f.c.admin.call("createAgent", { name: "b2", tier: Tier.VERIFIED }, adminHeaders(b)),
    );
    const token = expectOk(
      await f.c.auth.call(
        "mintToken",
        { agentId: agent?.id ?? "", scopes: ["reports:read"], ttl: { seconds: 600n } },
        adminHeaders(b),
      ),
    ).token;
    expect(expectOk(await ask(aKey, token)).decision).toBe(Decision.ALLOW);
    expectOk(await f.c.admin.call("suspendAgent", { id: agent?.id ?? "" }, adminHeaders(b)));
    expectFailure(await ask(aKey, token), grpc.status.UNAUTHENTICATED, "AGENT_SUSPENDED");
    expectOk(await f.c.admin.call("untrustOrg", { orgId: b.orgId }, aAdmin));
  });

  it("the built CLI: org trust, org trusted, org untrust, and their refusals", async () => {
    const home = tempDir("tessera-cli-trust-");
    try {
      const run = (...args: string[]) =>
        runTessera([...args, ...cliFlags(f.server), "--json"], cliEnv(home.dir), home.dir);
      const trust = await run("org", "trust", b.orgId);
      expect(trust.code, trust.stderr).toBe(0);
      expect(JSON.parse(trust.stdout)).toMatchObject({ trusted: { orgId: b.orgId } });
      const list = await run("org", "trusted");
      expect(JSON.parse(list.stdout).orgs.map((o: { orgId: string }) => o.orgId)).toEqual([b.orgId]);
      expect(expectOk(await ask(aKey)).decision).toBe(Decision.ALLOW);
      const untrust = await run("org", "untrust", b.orgId);
      expect(JSON.parse(untrust.stdout)).toEqual({ untrusted: b.orgId });
      mismatch(await ask(aKey));
      const own = await run("org", "trust", f.server.org.orgId);
      expect(own.code).toBe(2);
      expect(JSON.parse(own.stderr).error).toMatchObject({
        code: "InvalidArgument",
        reason: "TRUST_OWN_ORG",
      });
      const again = await run("org", "untrust", b.orgId);
      expect(again.code).toBe(1);
      expect(JSON.parse(again.stderr).error).toMatchObject({ code: "NotFound", reason: "TRUST_NOT_FOUND" });
    } finally {
      home.cleanup();
    }
  });
});
