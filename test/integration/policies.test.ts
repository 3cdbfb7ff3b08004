import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera } from "../helpers/in-memory.js";

const head = (name: string) =>
  `apiVersion: tessera.dev/v1\nkind: Policy\nmetadata:\n  name: ${name}\nspec:\n`;
/** Two documents in one text: `roles` defines auditor, `uses` needs it and a context value. */
const TWO = `${head("roles")}  roles:
    auditor: { inherits: [viewer] }
  rules:
    - name: logs
      scopes: ["logs:read"]
      effect: allow
      roles: [auditor]
---
${head("uses")}  rules:
    - name: reports
      scopes: ["reports:read"]
      effect: allow
      roles: [auditor]
      condition: 'context.region == "eu"'
`;
const DENY_LOGS = `${head("roles")}  rules:\n    - name: logs\n      scopes: ["logs:read"]\n      effect: deny\n`;
const TESTS = `apiVersion: tessera.dev/v1
kind: PolicyTest
metadata: { name: reports }
spec:
  cases:
    - name: an auditor in the eu reads reports
      subject: { id: a, roles: [auditor] }
      scope: reports:read
      context: { region: eu }
      expect: allow
      rule: uses/reports
`;

describe("policy administration and decisions through the in-memory transport", () => {
  let t: InMemoryTessera;
  let admin: { headers: Record<string, string> };
  let org: { headers: Record<string, string> };
  beforeEach(async () => {
    t = await inMemoryTessera();
    admin = { headers: t.adminHeaders };
    org = { headers: { "x-api-key": t.org.apiKey } };
  });
  afterEach(() => t.close());

  const subject = (roles: string[]) => ({
    case: "attributes" as const,
    value: { id: "a1", tier: Tier.VERIFIED, roles },
  });
  // Explaining needs a credential that may manage policies: the admin pair.
  const ask = (scope: string, roles: string[], context = {}, explain = false) =>
    t.auth.authorize({ subject: subject(roles), scope, context, explain }, explain ? admin : org);
  const revision = async () => (await t.admin.listPolicies({}, admin)).revision;

  it("stores two documents of one text as one revision, both listed, and history newest first", async () => {
    const put = await t.admin.putPolicy({ document: TWO }, admin);
    expect(put).toMatchObject({ name: "roles", names: ["roles", "uses"], revision: 2n });
    const list = await t.admin.listPolicies({}, admin);
    expect(list.revision).toBe(2n);
    expect(list.policies.map((p) => [p.name, p.revision, p.ruleCount])).toEqual([
      ["example", 1n, 4],
      ["roles", 2n, 1],
      ["uses", 2n, 1],
    ]);
    expect((await t.admin.deletePolicy({ name: "uses" }, admin)).revision).toBe(3n);
    const history = await t.admin.policyHistory({}, admin);
    expect(history.changes.map((c) => [c.revision, c.name, c.action])).toEqual([
      [3n, "uses", "delete"],
      [2n, "roles", "put"],
      [2n, "uses", "put"],
      [1n, "example", "put"],
    ]);
    const one = await t.admin.policyHistory({ name: "uses" }, admin);
    expect(one.changes.map((c) => c.action)).toEqual(["delete", "put"]);
  });

  it("gets a document as in force and as it was at an older revision", async () => {
    await t.admin.putPolicy({ document: DENY_LOGS.replace("deny", "allow") }, admin);
    await t.admin.putPolicy({ document: DENY_LOGS }, admin);
    const now = await t.admin.getPolicy({ name: "roles" }, admin);
    expect(now.revision).toBe(3n);
    expect(now.document).toContain("effect: deny");
    const then = await t.admin.getPolicy({ name: "roles", revision: 2n }, admin);
    expect(then.revision).toBe(2n);
    expect(then.document).toContain("effect: allow");
    const before = await failure(t.admin.getPolicy({ name: "roles", revision: 1n }, admin));
    expect(before).toMatchObject({ code: Code.NotFound, reason: "POLICY_NOT_FOUND" });
  });

  it("deletes a policy: a new revision, gone from the list, and decisions change", async () => {
    await t.admin.putPolicy({ document: DENY_LOGS.replace("deny", "allow") }, admin);
    expect((await ask("logs:read", [])).decision).toBe(Decision.ALLOW);
    expect((await t.admin.deletePolicy({ name: "roles" }, admin)).revision).toBe(3n);
    expect((await t.admin.listPolicies({}, admin)).policies.map((p) => p.name)).toEqual(["example"]);
    const after = await ask("logs:read", []);
    expect(after).toMatchObject({ decision: Decision.DENY, reason: "NO_MATCHING_RULE", policyRevision: 3n });
    const gone = await failure(t.admin.getPolicy({ name: "roles" }, admin));
    expect(gone).toMatchObject({ code: Code.NotFound, reason: "POLICY_NOT_FOUND" });
    expect((await t.admin.getPolicy({ name: "roles", revision: 2n }, admin)).revision).toBe(2n);
    const atDelete = await failure(t.admin.getPolicy({ name: "roles", revision: 3n }, admin));
    expect(atDelete).toMatchObject({ code: Code.NotFound, reason: "POLICY_NOT_FOUND" });
  });

  it("refuses to delete a policy whose custom role another uses, changing nothing", async () => {
    await t.admin.putPolicy({ document: TWO }, admin);
    const f = await failure(t.admin.deletePolicy({ name: "roles" }, admin));
    expect(f).toMatchObject({ code: Code.InvalidArgument, reason: "POLICY_INVALID" });
    expect(await revision()).toBe(2n);
    expect((await t.admin.listPolicies({}, admin)).policies.map((p) => p.name)).toEqual([
      "example",
      "roles",
      "uses",
    ]);
    const replace = await failure(t.admin.putPolicy({ document: DENY_LOGS }, admin));
    expect(replace).toMatchObject({ code: Code.InvalidArgument, reason: "POLICY_INVALID" });
    expect(await revision()).toBe(2n);
    expect((await ask("logs:read", ["auditor"])).decision).toBe(Decision.ALLOW);
  });

  it("answers NOT_FOUND POLICY_NOT_FOUND for an unknown policy", async () => {
    for (const call of [
      () => t.admin.getPolicy({ name: "ghost" }, admin),
      () => t.admin.deletePolicy({ name: "ghost" }, admin),
    ]) {
      expect(await failure(call())).toMatchObject({ code: Code.NotFound, reason: "POLICY_NOT_FOUND" });
    }
  });

  it("rejects a text with one bad document whole, naming file, rule and position", async () => {
    const bad = TWO.replace("roles: [auditor]\n      condition", "roles: [wizard]\n      condition");
    const f = await failure(t.admin.putPolicy({ document: bad, file: "two.yaml" }, admin));
    expect(f).toMatchObject({ code: Code.InvalidArgument, reason: "POLICY_INVALID" });
    expect(f.metadata).toMatchObject({ file: "two.yaml", rule: "reports", line: "23", column: "14" });
    expect(await revision()).toBe(1n);
    expect((await t.admin.listPolicies({}, admin)).policies.map((p) => p.name)).toEqual(["example"]);
  });

  it("validates without writing", async () => {
    expect(await t.admin.validatePolicy({ document: TWO }, admin)).toMatchObject({
      names: ["roles", "uses"],
      ruleCount: 2,
    });
    const f = await failure(
      t.admin.validatePolicy({ document: TWO.replace("effect: allow", "effect: maybe") }, admin),
    );
    expect(f).toMatchObject({ code: Code.InvalidArgument, reason: "POLICY_INVALID" });
    expect(await revision()).toBe(1n);
    expect((await t.admin.policyHistory({}, admin)).changes).toHaveLength(1);
  });

  it("tests against the policies in force or a candidate, applying nothing", async () => {
    const inForce = await t.admin.testPolicy({ tests: TESTS }, admin);
    expect(inForce).toMatchObject({ passed: 0, failed: 1 });
    expect(inForce.failures[0]).toMatchObject({
      suite: "reports",
      case: "an auditor in the eu reads reports",
    });
    expect(inForce.failures[0]).toMatchObject({ actual: "deny", reason: "NO_MATCHING_RULE", rule: "" });
    const candidate = await t.admin.testPolicy({ tests: TESTS, candidate: TWO }, admin);
    expect(candidate).toMatchObject({ passed: 1, failed: 0, failures: [] });
    expect(await revision()).toBe(1n);
    expect((await ask("reports:read", ["auditor"], { region: "eu" })).decision).toBe(Decision.DENY);
    // A failing case says why: every candidate rule and its outcome, as explain gives them.
    const outside = TESTS.replace("context: { region: eu }", "context: { region: us }");
    const failed = await t.admin.testPolicy({ tests: outside, candidate: TWO }, admin);
    expect(failed.failures[0]?.trace.map((r) => [r.rule, r.outcome])).toEqual([
      ["uses/reports", "CONDITION_FALSE"],
    ]);
    const bad = await failure(t.admin.testPolicy({ tests: TESTS, candidate: "kind: Nope\n" }, admin));
    expect(bad).toMatchObject({ code: Code.InvalidArgument, reason: "POLICY_INVALID" });
  });

  it("returns the explanation through the wire, and a put takes effect on the very next call", async () => {
    const before = await ask("reports:read", ["auditor"], {}, true);
    expect(before).toMatchObject({ decision: Decision.DENY, reason: "NO_MATCHING_RULE", explanation: [] });
    await t.admin.putPolicy({ document: TWO }, admin);
    const err = await ask("reports:read", ["auditor"], {}, true);
    expect(err).toMatchObject({ decision: Decision.DENY, reason: "NO_MATCHING_RULE", policyRevision: 2n });
    expect(err.explanation).toMatchObject([
      { rule: "uses/reports", effect: "allow", outcome: "CONDITION_ERROR" },
    ]);
    expect(err.explanation[0]?.error).toMatch(/\S/);
    const ok = await ask("reports:read", ["auditor"], { region: "eu" }, true);
    expect(ok).toMatchObject({ decision: Decision.ALLOW, rule: "uses/reports", reason: "ALLOWED_BY_RULE" });
    expect(ok.explanation).toMatchObject([
      { rule: "uses/reports", effect: "allow", outcome: "MATCHED", error: "" },
    ]);
    const role = await ask("reports:read", ["viewer"], { region: "eu" }, true);
    expect(role.explanation.map((e) => e.outcome)).toEqual(["ROLE_MISSING"]);
    expect((await ask("reports:read", ["auditor"], { region: "eu" })).explanation).toEqual([]);
  });

  describe("AuthorizeBatch", () => {
    type Check = { scope: string; resource?: { kind: string; id: string } };
    const batch = (checks: Check[], who: "operator" | "nobody" = "operator") =>
      t.auth.authorizeBatch(
        { subject: who === "nobody" ? { case: undefined } : subject([who]), checks },
        org,
      );

    it("answers every check in order", async () => {
      const res = await batch([
        { scope: "governance:propose", resource: { kind: "tool", id: "t1" } },
        { scope: "audit:read" },
        { scope: "governance:read" },
        { scope: "governance:propose", resource: { kind: "dataset", id: "d1" } },
      ]);
      expect(res.results.map((r) => [r.decision, r.reason, r.rule])).toEqual([
        [Decision.ALLOW, "ALLOWED_BY_RULE", "example/propose"],
        [Decision.DENY, "NO_MATCHING_RULE", ""],
        [Decision.ALLOW, "ALLOWED_BY_RULE", "example/read"],
        [Decision.DENY, "NO_MATCHING_RULE", ""],
      ]);
      expect(new Set(res.results.map((r) => r.decisionId)).size).toBe(4);
    });

    it("takes 100 checks and refuses 101, none, no subject or one bad scope", async () => {
      const checks = (n: number) => Array.from({ length: n }, () => ({ scope: "governance:read" }));
      expect((await batch(checks(100))).results).toHaveLength(100);
      const cases: [Promise<unknown>, string][] = [
        [batch(checks(101)), "BATCH_TOO_LARGE"],
        [batch([]), "CHECKS_MISSING"],
        [batch(checks(2), "nobody"), "SUBJECT_MISSING"],
        [
          batch([{ scope: "governance:read" }, { scope: "not a scope" }, { scope: "audit:read" }]),
          "SCOPE_INVALID",
        ],
        [batch([{ scope: "governance:read" }, { scope: "" }]), "SCOPE_MISSING"],
      ];
      for (const [call, reason] of cases) {
        expect(await failure(call)).toMatchObject({ code: Code.InvalidArgument, reason });
      }
    });
  });
});
