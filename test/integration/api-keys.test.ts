import { toJsonString } from "@bufbuild/protobuf";
import { decodeProtectedHeader } from "jose";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ListApiKeysResponseSchema } from "../../gen/tessera/v1/admin_service_pb.js";
import { Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { generateSecret } from "../../src/auth/secrets.js";
import { createOrg } from "../../src/core/bootstrap.js";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera } from "../helpers/in-memory.js";
import { adminMint, authorizeToken, ManualClock, newAgent } from "../helpers/lifecycle.js";

const POLICY = `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: extra }
spec:
  rules:
    - { name: r, scopes: ["reports:read"], effect: allow }
`;

describe("org credentials, scoped API keys and signing keys", () => {
  let t: InMemoryTessera;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await inMemoryTessera(clock.now);
  });
  afterEach(() => t.close());

  const key = (k: string) => ({ headers: { "x-api-key": k } });
  const pair = (apiKey: string, adminToken: string) => ({
    headers: { "x-api-key": apiKey, "x-admin-token": adminToken },
  });
  const create = async (scopes: string[], expiresAt?: number) => {
    const res = await t.admin.createApiKey(
      {
        name: `key ${scopes.length}`,
        scopes,
        ...(expiresAt ? { expiresAt: { seconds: BigInt(expiresAt) } } : {}),
      },
      { headers: t.adminHeaders },
    );
    return { secret: res.apiKey, id: res.key?.id ?? "" };
  };
  const unauth = async (call: Promise<unknown>, reason: string) =>
    expect(await failure(call)).toMatchObject({ code: Code.Unauthenticated, reason });

  it("gives each wrong admin credential its own reason", async () => {
    const other = await createOrg(t.store, "other", clock.now());
    const bad = `${t.org.apiKey.slice(0, -1)}${t.org.apiKey.endsWith("A") ? "B" : "A"}`;
    const cases: [Record<string, string>, string][] = [
      [{}, "ADMIN_TOKEN_MISSING"],
      [{ "x-api-key": t.org.apiKey }, "ADMIN_TOKEN_MISSING"],
      [{ "x-admin-token": t.org.adminToken }, "API_KEY_MISSING"],
      [pair(generateSecret("apiKey"), t.org.adminToken).headers, "API_KEY_UNKNOWN"],
      [pair(bad, t.org.adminToken).headers, "API_KEY_MALFORMED"],
      [pair(t.org.apiKey, generateSecret("adminToken")).headers, "ADMIN_TOKEN_UNKNOWN"],
      [pair(t.org.apiKey, other.adminToken).headers, "ADMIN_TOKEN_ORG_MISMATCH"],
    ];
    for (const [headers, reason] of cases) await unauth(t.admin.listAgents({}, { headers }), reason);
  });

  it("rotates the org's credentials: the new pair works and the old ones stop at once", async () => {
    const next = await t.admin.rotateOrgCredentials({}, { headers: t.adminHeaders });
    expect(next.apiKey).toMatch(/^tsk_/);
    expect(next.adminToken).toMatch(/^tat_/);
    await t.admin.listAgents({}, pair(next.apiKey, next.adminToken));
    await unauth(t.admin.listAgents({}, { headers: t.adminHeaders }), "API_KEY_UNKNOWN");
    await unauth(t.admin.listAgents({}, pair(next.apiKey, t.org.adminToken)), "ADMIN_TOKEN_UNKNOWN");
    await unauth(
      t.auth.authenticate({ credential: { case: "apiKey", value: t.org.apiKey } }),
      "API_KEY_UNKNOWN",
    );
  });

  it("creates, lists without the secret, and revokes scoped keys", async () => {
    const k = await create(["governance:read", "reports:*"], clock.sec + 3600);
    expect(k.secret).toMatch(/^tsk_/);
    const listed = await t.admin.listApiKeys({}, { headers: t.adminHeaders });
    expect(listed.keys).toHaveLength(1);
    expect(listed.keys[0]).toMatchObject({ id: k.id, scopes: ["governance:read", "reports:*"] });
    expect(listed.keys[0]?.prefix).toBe(k.secret.slice(0, 8));
    expect(listed.keys[0]?.expiresAt?.seconds).toBe(BigInt(clock.sec + 3600));
    const json = toJsonString(ListApiKeysResponseSchema, listed);
    expect(json).not.toContain(k.secret);
    expect(json).not.toContain(k.secret.slice(8, 24));
    const who = await t.auth.authenticate({ credential: { case: "apiKey", value: k.secret } });
    expect(who.principal?.scopes).toEqual(["governance:read", "reports:*"]);
    await t.admin.revokeApiKey({ id: k.id }, { headers: t.adminHeaders });
    await unauth(t.auth.authenticate({ credential: { case: "apiKey", value: k.secret } }), "API_KEY_UNKNOWN");
    const again = await failure(t.admin.revokeApiKey({ id: k.id }, { headers: t.adminHeaders }));
    expect(again).toMatchObject({ code: Code.NotFound, reason: "API_KEY_NOT_FOUND" });
    const listedAfter = await t.admin.listApiKeys({}, { headers: t.adminHeaders });
    expect(listedAfter.keys[0]?.revokedAt).toBeDefined();
  });

  it("expires a key at its expiry and refuses an expiry in the past", async () => {
    const k = await create(["governance:read"], clock.sec + 60);
    clock.advance(59);
    await t.auth.authenticate({ credential: { case: "apiKey", value: k.secret } });
    clock.advance(1);
    await unauth(t.auth.authenticate({ credential: { case: "apiKey", value: k.secret } }), "API_KEY_EXPIRED");
    const past = await failure(create(["governance:read"], clock.sec));
    expect(past).toMatchObject({ code: Code.InvalidArgument, reason: "EXPIRY_INVALID" });
  });

  it("rotates a key with a grace period during which old and new both work", async () => {
    const old = await create(["capabilities:manage"]);
    const rotated = await t.admin.rotateApiKey(
      { id: old.id, grace: { seconds: 300n } },
      { headers: t.adminHeaders },
    );
    expect(rotated.apiKey).not.toBe(old.secret);
    expect(rotated.key?.scopes).toEqual(["capabilities:manage"]);
    clock.advance(299);
    for (const k of [old.secret, rotated.apiKey]) await t.admin.listAgents({}, key(k));
    clock.advance(1);
    await unauth(t.admin.listAgents({}, key(old.secret)), "API_KEY_EXPIRED");
    await t.admin.listAgents({}, key(rotated.apiKey));
  });

  it("lets a key do only what its scopes allow", async () => {
    const agentId = (await newAgent(t, "bot")).id;
    const calls: Record<string, (h: { headers: Record<string, string> }) => Promise<unknown>> = {
      putPolicy: (h) => t.admin.putPolicy({ document: POLICY }, h),
      listPolicies: (h) => t.admin.listPolicies({}, h),
      listAgents: (h) => t.admin.listAgents({}, h),
      createAgentSecret: (h) => t.admin.createAgentSecret({ agentId }, h),
      mintToken: (h) => t.auth.mintToken({ agentId, scopes: ["reports:read"] }, h),
      createApiKey: (h) => t.admin.createApiKey({ name: "n", scopes: ["a:b"] }, h),
      createUser: (h) => t.admin.createUser({ username: "u", password: "x", role: "viewer" }, h),
      listSigningKeys: (h) => t.admin.listSigningKeys({}, h),
    };
    const allowed: Record<string, string[]> = {
      "policies:manage": ["putPolicy", "listPolicies"],
      "capabilities:manage": ["listAgents", "createAgentSecret", "mintToken"],
      "audit:read": [],
      "governance:read": [],
      admin: Object.keys(calls),
    };
    for (const [scope, ok] of Object.entries(allowed)) {
      const k = key((await create([scope])).secret);
      for (const [name, call] of Object.entries(calls)) {
        if (ok.includes(name)) {
          // createUser with a weak password proves the key got past authorization.
          const res = await failure(call(k)).catch(() => undefined);
          expect(res?.reason ?? "ok", `${scope} → ${name}`).toMatch(/^(ok|PASSWORD_WEAK)$/);
        } else {
          const f = await failure(call(k));
          expect(f, `${scope} → ${name}`).toMatchObject({
            code: Code.PermissionDenied,
            reason: "API_KEY_SCOPE_MISSING",
          });
        }
      }
      const subject = {
        case: "attributes" as const,
        value: { id: "x", tier: Tier.VERIFIED, roles: ["viewer"] },
      };
      const d = await t.auth.authorize({ subject, scope: "governance:read" }, k);
      expect(d.decision).toBe(Decision.ALLOW);
    }
  });

  it("the operator rotates signing keys: the published next key signs, older tokens keep verifying", async () => {
    const before = (await t.admin.listSigningKeys({}, { headers: t.adminHeaders })).keys;
    expect(before.map((k) => k.state).sort()).toEqual(["active", "next"]);
    const next = before.find((k) => k.state === "next")?.kid ?? "";
    const active = before.find((k) => k.state === "active")?.kid ?? "";
    expect((await t.auth.getJwks({})).keys.map((k) => k.kid)).toContain(next);
    const agentId = (await newAgent(t, "signer")).id;
    const old = await adminMint(t, agentId, ["governance:read"]);
    expect(decodeProtectedHeader(old).kid).toBe(active);
    const after = (await t.system.rotateSigningKeys({}, { headers: t.operatorHeaders })).keys;
    expect(after.find((k) => k.state === "active")?.kid).toBe(next);
    expect(after.find((k) => k.kid === active)?.state).toBe("retired");
    expect(decodeProtectedHeader(await adminMint(t, agentId, ["governance:read"])).kid).toBe(next);
    expect((await authorizeToken(t, old)).decision).toBe(Decision.ALLOW);
  });
});
