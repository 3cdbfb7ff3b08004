import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera } from "../helpers/in-memory.js";

/** A document `name` with one rule for scope `<name>:<verb>`. */
const doc = (name: string, verb = "read", extra = "") => `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: ${name} }
spec:
${extra}  rules:
    - { name: r, scopes: ["${name}:${verb}"], effect: allow }
`;
const ROLES = doc("roles", "read", "  roles:\n    auditor: { inherits: [viewer] }\n");
const USES_AUDITOR = `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: uses }
spec:
  rules:
    - { name: r, scopes: ["uses:read"], effect: allow, roles: [auditor] }
`;
const texts = (...docs: string[]) => docs.join("---\n");

/**
 * Issue #10: re-applying what is stored makes no revision; `prune` makes the stored set exactly
 * the text's documents in one revision, all or nothing; the history says who made each change.
 */
describe("PutPolicy: unchanged, prune and the history's actor", () => {
  let t: InMemoryTessera;
  let admin: { headers: Record<string, string> };
  beforeEach(async () => {
    t = await inMemoryTessera();
    admin = { headers: t.adminHeaders };
  });
  afterEach(() => t.close());

  const stored = async () => {
    const list = await t.admin.listPolicies({}, admin);
    return { revision: list.revision, names: list.policies.map((p) => p.name) };
  };
  const history = async () => (await t.admin.policyHistory({}, admin)).changes;

  it("answers an unchanged put with the revision in force and makes none", async () => {
    const first = await t.admin.putPolicy({ document: texts(doc("a"), doc("b")) }, admin);
    expect(first).toMatchObject({ unchanged: false, added: ["a", "b"], changed: [], deleted: [] });
    const before = { stored: await stored(), history: await history() };
    const again = await t.admin.putPolicy({ document: texts(doc("a"), doc("b")) }, admin);
    expect(again).toMatchObject({
      unchanged: true,
      revision: first.revision,
      names: ["a", "b"],
      added: [],
      changed: [],
      unchangedNames: ["a", "b"],
    });
    expect({ stored: await stored(), history: await history() }).toEqual(before);
    expect(t.tessera.engine.revision(t.org.orgId)).toBe(Number(first.revision));
  });

  it("writes only the documents that changed, in one revision", async () => {
    const first = await t.admin.putPolicy({ document: texts(doc("a"), doc("b")) }, admin);
    const second = await t.admin.putPolicy({ document: texts(doc("a"), doc("b", "write")) }, admin);
    expect(second).toMatchObject({
      unchanged: false,
      revision: first.revision + 1n,
      changed: ["b"],
      unchangedNames: ["a"],
    });
    const at = (await history()).filter((c) => c.revision === second.revision).map((c) => [c.name, c.action]);
    expect(at).toEqual([["b", "put"]]);
    const list = (await t.admin.listPolicies({}, admin)).policies;
    expect(list.find((p) => p.name === "a")?.revision).toBe(first.revision);
  });

  it("without prune deletes nothing; with prune makes the stored set the text's, in one revision", async () => {
    await t.admin.putPolicy({ document: texts(doc("a"), doc("b")) }, admin);
    const plain = await t.admin.putPolicy({ document: doc("c") }, admin);
    expect(plain.deleted).toEqual([]);
    expect((await stored()).names).toEqual(["a", "b", "c", "example"]);
    const pruned = await t.admin.putPolicy(
      { document: texts(doc("a", "write"), doc("d")), prune: true },
      admin,
    );
    expect(pruned).toMatchObject({
      unchanged: false,
      revision: plain.revision + 1n,
      added: ["d"],
      changed: ["a"],
      deleted: ["b", "c", "example"],
    });
    expect(await stored()).toEqual({ revision: pruned.revision, names: ["a", "d"] });
    const at = (await history()).filter((c) => c.revision === pruned.revision).map((c) => [c.name, c.action]);
    expect(at).toEqual([
      ["a", "put"],
      ["b", "delete"],
      ["c", "delete"],
      ["d", "put"],
      ["example", "delete"],
    ]);
    const again = await t.admin.putPolicy(
      { document: texts(doc("a", "write"), doc("d")), prune: true },
      admin,
    );
    expect(again).toMatchObject({ unchanged: true, revision: pruned.revision });
  });

  it("checks a pruning text alone: what it needs from a document it would delete refuses it whole", async () => {
    await t.admin.putPolicy({ document: texts(ROLES, USES_AUDITOR) }, admin);
    const before = await stored();
    // Without prune, `uses` may rely on the stored `roles` for its custom role.
    await t.admin.putPolicy({ document: USES_AUDITOR.replace("uses:read", "uses:list") }, admin);
    const after = await stored();
    const refused = t.admin.putPolicy({ document: USES_AUDITOR, prune: true }, admin);
    expect(await failure(refused)).toMatchObject({ code: Code.InvalidArgument, reason: "POLICY_INVALID" });
    expect(await stored()).toEqual(after);
    expect(after.names).toEqual(before.names);
  });

  it("records who made each change: the admin pair, a scoped key, a user, the server", async () => {
    const keys = { ...admin.headers };
    const scoped = (await t.admin.createApiKey({ name: "ci", scopes: ["policies:manage"] }, admin)).apiKey;
    const user = await t.admin.createUser(
      { username: "ops", password: "correct horse battery staple", role: "operator" },
      admin,
    );
    const login = await t.auth.authenticate({
      credential: {
        case: "password",
        value: { orgId: t.org.orgId, username: "ops", password: "correct horse battery staple" },
      },
      issueTokens: true,
    });
    const primaryId = t.tessera.credentials.apiKey(t.org.apiKey).id;
    const scopedId = t.tessera.credentials.apiKey(scoped).id;
    await t.admin.putPolicy({ document: doc("a") }, { headers: keys });
    await t.admin.putPolicy({ document: doc("b") }, { headers: { "x-api-key": scoped } });
    await t.admin.deletePolicy(
      { name: "a" },
      { headers: { authorization: `Bearer ${login.tokens?.accessToken}` } },
    );
    const actors = (await history()).map((c) => [c.name, c.action, c.actor]);
    expect(actors).toEqual([
      ["a", "delete", `user:${user.user?.id}`],
      ["b", "put", `api_key:${scopedId}`],
      ["a", "put", `admin:${primaryId}`],
      ["example", "put", "server"],
    ]);
    for (const c of await history()) expect(c.changedAt?.seconds).toBeGreaterThan(0n);
    const secrets = [t.org.apiKey, t.org.adminToken, scoped, login.tokens?.accessToken ?? ""];
    const text = JSON.stringify(actors);
    for (const s of secrets) expect(text).not.toContain(s);
  });
});

describe("policies:read reads policies and cannot write them", () => {
  let t: InMemoryTessera;
  let admin: { headers: Record<string, string> };
  beforeEach(async () => {
    t = await inMemoryTessera();
    admin = { headers: t.adminHeaders };
  });
  afterEach(() => t.close());

  const keyWith = async (scope: string) => ({
    headers: { "x-api-key": (await t.admin.createApiKey({ name: scope, scopes: [scope] }, admin)).apiKey },
  });
  const TESTS = `apiVersion: tessera.dev/v1
kind: PolicyTest
metadata: { name: t }
spec:
  cases:
    - { name: c, subject: { id: a, tier: verified, roles: [operator] }, scope: "governance:propose", resource: { kind: tool, id: t1 }, expect: allow }
`;

  /** Every reading call, made with `creds`: what each answered, or its refusal's reason. */
  async function reads(creds: { headers: Record<string, string> }) {
    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => "ok",
        (e: unknown) => failure(Promise.reject(e)).then((f) => f.reason),
      );
    return {
      list: await outcome(t.admin.listPolicies({}, creds)),
      get: await outcome(t.admin.getPolicy({ name: "example" }, creds)),
      history: await outcome(t.admin.policyHistory({}, creds)),
      validate: await outcome(t.admin.validatePolicy({ document: doc("v") }, creds)),
      test: await outcome(t.admin.testPolicy({ tests: TESTS }, creds)),
    };
  }
  const ALL_OK = { list: "ok", get: "ok", history: "ok", validate: "ok", test: "ok" };

  it("lets a policies:read key read, validate and test, and refuses its writes with nothing written", async () => {
    const reader = await keyWith("policies:read");
    expect(await reads(reader)).toEqual(ALL_OK);
    const before = await t.admin.policyHistory({}, admin);
    for (const call of [
      () => t.admin.putPolicy({ document: doc("x") }, reader),
      () => t.admin.deletePolicy({ name: "example" }, reader),
    ])
      expect(await failure(call())).toMatchObject({
        code: Code.PermissionDenied,
        reason: "API_KEY_SCOPE_MISSING",
      });
    expect(await t.admin.policyHistory({}, admin)).toEqual(before);
  });

  it("is included in policies:manage, and not in audit:read", async () => {
    expect(await reads(await keyWith("policies:manage"))).toEqual(ALL_OK);
    const audit = await reads(await keyWith("audit:read"));
    expect(Object.values(audit)).toEqual(Array(5).fill("API_KEY_SCOPE_MISSING"));
  });

  it("is granted to a viewer user, who still cannot write", async () => {
    await t.admin.createUser(
      { username: "v", password: "correct horse battery staple", role: "viewer" },
      admin,
    );
    const login = await t.auth.authenticate({
      credential: {
        case: "password",
        value: { orgId: t.org.orgId, username: "v", password: "correct horse battery staple" },
      },
      issueTokens: true,
    });
    const viewer = { headers: { authorization: `Bearer ${login.tokens?.accessToken}` } };
    expect(await reads(viewer)).toEqual(ALL_OK);
    const put = t.admin.putPolicy({ document: doc("x") }, viewer);
    expect(await failure(put)).toMatchObject({ code: Code.PermissionDenied, reason: "ROLE_FORBIDDEN" });
  });
});
