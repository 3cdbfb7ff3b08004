import { readFileSync } from "node:fs";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import { generateSecret } from "../../src/auth/secrets.js";
import { createOrg } from "../../src/core/bootstrap.js";
import { addConnectService } from "../../src/transport/connect-adapter.js";
import { serviceBindings } from "../../src/transport/servers.js";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera } from "../helpers/in-memory.js";
import { adminMint, agentLogin, bearer, ManualClock, newAgent } from "../helpers/lifecycle.js";

const VERSION = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
).version;

/**
 * Issue #10: RevokeToken still answers OK for anything (RFC 7009) but says whether it was a token
 * of the caller's org, so `token revoke` can say "not a token" instead of "revoked".
 */
describe("RevokeToken says whether it recognized the token", () => {
  let t: InMemoryTessera;
  let clock: ManualClock;
  let agentId: string;
  const apiKey = () => ({ headers: { "x-api-key": t.org.apiKey } });
  beforeEach(async () => {
    clock = new ManualClock();
    t = await inMemoryTessera(clock.now);
    agentId = (await newAgent(t, "scout")).id;
  });
  afterEach(() => t.close());

  it("recognizes the org's access and refresh tokens, also once revoked or expired", async () => {
    const s = await agentLogin(t, agentId);
    const access = { recognized: true, tokenType: "access_token" };
    expect(await t.auth.revokeToken({ token: s.access }, apiKey())).toMatchObject(access);
    expect(await t.auth.revokeToken({ token: s.access }, apiKey())).toMatchObject(access);
    const refresh = { recognized: true, tokenType: "refresh_token" };
    expect(await t.auth.revokeToken({ token: s.refresh }, apiKey())).toMatchObject(refresh);
    expect(await t.auth.revokeToken({ token: s.refresh }, apiKey())).toMatchObject(refresh);
    const minted = await adminMint(t, agentId, ["governance:read"], 60n);
    clock.advance(60 + 11);
    expect(await t.auth.revokeToken({ token: minted }, apiKey())).toMatchObject(access);
  });

  it("recognizes nothing else, and another org's tokens are not its own (and stay live)", async () => {
    const s = await agentLogin(t, agentId);
    const junk = [generateSecret("refreshToken"), "trt_short", "not.a.jwt", "", "tsk_x", t.org.apiKey];
    for (const token of junk)
      expect(await t.auth.revokeToken({ token }, apiKey()), token).toMatchObject({
        recognized: false,
        tokenType: "",
      });
    const other = await createOrg(t.store, "other", clock.now());
    for (const token of [s.access, s.refresh])
      expect(await t.auth.revokeToken({ token }, { headers: { "x-api-key": other.apiKey } })).toMatchObject({
        recognized: false,
      });
    const still = await t.auth.introspectToken({ token: s.access }, { headers: bearer(s.access) });
    expect(still.active).toBe(true);
  });
});

/** Issue #10: `tessera status` — health, version, workers, uptime, and the caller's org's revision. */
describe("GetServerStatus", () => {
  let t: InMemoryTessera;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await inMemoryTessera(clock.now);
  });
  afterEach(() => t.close());

  it("tells anyone the server's health, version, workers and uptime, and no org", async () => {
    clock.advance(3725);
    const s = await t.auth.getServerStatus({});
    expect(s).toMatchObject({
      serving: true,
      version: VERSION,
      workers: 1,
      workerId: 0,
      orgId: "",
      policyRevision: 0n,
    });
    expect(s.uptime?.seconds).toBe(3725n);
    expect(Number(s.startedAt?.seconds)).toBe(clock.sec - 3725);
  });

  it("tells a caller of an org that org's policy revision in force, whatever its credential", async () => {
    const revision = (await t.admin.listPolicies({}, { headers: t.adminHeaders })).revision;
    expect(revision).toBeGreaterThan(0n);
    const agent = await newAgent(t, "scout");
    const token = await adminMint(t, agent.id, ["governance:read"]);
    for (const headers of [{ "x-api-key": t.org.apiKey }, t.adminHeaders, bearer(token)]) {
      const s = await t.auth.getServerStatus({}, { headers });
      expect(s).toMatchObject({ orgId: t.org.orgId, policyRevision: revision });
    }
    const other = await createOrg(t.store, "other", clock.now());
    const theirs = await t.auth.getServerStatus({}, { headers: { "x-api-key": other.apiKey } });
    expect(theirs).toMatchObject({ orgId: other.orgId, policyRevision: 0n });
  });

  it("refuses a credential that is sent but not valid, rather than answering as to no one", async () => {
    const bad = t.auth.getServerStatus({}, { headers: { "x-api-key": generateSecret("apiKey") } });
    expect(await failure(bad)).toMatchObject({ code: Code.Unauthenticated, reason: "API_KEY_UNKNOWN" });
  });

  it("reports the transport's health as it is", async () => {
    const transport = createRouterTransport((router) => {
      for (const b of serviceBindings(t.tessera, () => false)) addConnectService(router, b);
    });
    const s = await createClient(AuthService, transport).getServerStatus({});
    expect(s.serving).toBe(false);
  });
});
