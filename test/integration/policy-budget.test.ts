import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera } from "../helpers/in-memory.js";

/** An allow whose condition scans a request list once per item: accepted, but quadratic in the list. */
const SCAN = `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: scan }
spec:
  rules:
    - name: all-known
      scopes: ["data:read"]
      effect: allow
      condition: "context.ids.all(x, x in context.ids)"
    - name: all-known-or-deny
      scopes: ["data:write"]
      effect: deny
      condition: "!context.ids.all(x, x in context.ids)"
`;

const digits = "[0,1,2,3,4,5,6,7,8,9]";

describe("CEL budgets through the in-memory transport", () => {
  let t: InMemoryTessera;
  let admin: { headers: Record<string, string> };
  let org: { headers: Record<string, string> };
  beforeEach(async () => {
    t = await inMemoryTessera();
    admin = { headers: t.adminHeaders };
    org = { headers: { "x-api-key": t.org.apiKey } };
    await t.admin.putPolicy({ document: SCAN }, admin);
  });
  afterEach(() => t.close());

  const subject = { case: "attributes" as const, value: { id: "a1", tier: Tier.VERIFIED, roles: [] } };
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `id${i}`);

  it("over budget: the allow does not match, the deny denies, explain says CONDITION_ERROR", async () => {
    const small = await t.auth.authorize({ subject, scope: "data:read", context: { ids: ids(20) } }, org);
    expect(small.decision).toBe(Decision.ALLOW);
    // Field limits keep one request's lists small (256 entries), so the budget that one
    // request can exhaust is its batch's: 20 checks of 250 ids, the last ones over it.
    const read = { scope: "data:read", context: { ids: ids(250) } };
    const write = { scope: "data:write", context: { ids: ids(250) } };
    const res = await t.auth.authorizeBatch(
      { subject, checks: [...Array.from({ length: 19 }, () => read), write], explain: true },
      admin,
    );
    const last = res.results.at(-2);
    expect([last?.decision, last?.reason]).toEqual([Decision.DENY, "NO_MATCHING_RULE"]);
    expect(last?.explanation.map((e) => e.outcome)).toEqual(["CONDITION_ERROR"]);
    const denied = res.results.at(-1);
    expect([denied?.decision, denied?.reason, denied?.rule]).toEqual([
      Decision.DENY,
      "DENIED_BY_RULE",
      "scan/all-known-or-deny",
    ]);
  });

  it("refuses a request whose lists are past the field limits before any condition runs", async () => {
    const f = await failure(
      t.auth.authorize({ subject, scope: "data:read", context: { ids: ids(2000) } }, org),
    );
    expect(f).toMatchObject({ code: Code.InvalidArgument, reason: "FIELD_TOO_LARGE" });
  });

  it("a batch draws on one budget: its checks cannot each spend a decision's worth", async () => {
    const checks = Array.from({ length: 20 }, () => ({ scope: "data:read", context: { ids: ids(250) } }));
    const res = await t.auth.authorizeBatch({ subject, checks }, org);
    const decisions = res.results.map((r) => r.decision);
    expect(decisions[0]).toBe(Decision.ALLOW);
    expect(decisions.at(-1)).toBe(Decision.DENY);
    // Each check alone is well within budget: apart, all twenty would allow.
    const alone = await t.auth.authorize({ subject, scope: "data:read", context: { ids: ids(250) } }, org);
    expect(alone.decision).toBe(Decision.ALLOW);
  });

  it("PutPolicy, ValidatePolicy and TestPolicy refuse a condition over the limits with POLICY_TOO_COMPLEX, writing nothing", async () => {
    const nested = SCAN.replace(
      '"!context.ids.all(x, x in context.ids)"',
      `"${digits}.all(a, ${digits}.all(b, ${digits}.all(c, ${digits}.all(d, true))))"`,
    );
    const before = (await t.admin.listPolicies({}, admin)).revision;
    for (const call of [
      () => t.admin.putPolicy({ document: nested }, admin),
      () => t.admin.validatePolicy({ document: nested }, admin),
      () => t.admin.testPolicy({ tests: TESTS, candidate: nested }, admin),
    ]) {
      const err = await failure(call());
      expect([err.code, err.reason]).toEqual([Code.InvalidArgument, "POLICY_TOO_COMPLEX"]);
    }
    expect((await t.admin.listPolicies({}, admin)).revision).toBe(before);
  });
});

const TESTS = `apiVersion: tessera.dev/v1
kind: PolicyTest
metadata: { name: t }
spec:
  cases:
    - { name: c, subject: { id: a }, scope: "data:read", context: { ids: [a] }, expect: allow }
`;
