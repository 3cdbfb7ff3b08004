import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { Tier } from "../../src/domain/tiers.js";
import { parsePolicyDocuments } from "../../src/engine/document.js";
import { PolicyEngine } from "../../src/engine/engine.js";
import type { AuthzQuery, DecisionReason } from "../../src/engine/types.js";

/** One decision-table case as written in a fixture. */
interface Case {
  readonly name: string;
  readonly subject: { id: string; tier: Tier; roles: string[]; scopes?: string[] };
  readonly scope: string;
  readonly resource?: { kind: string; id: string; attr: Record<string, unknown> };
  readonly expect: { allow: boolean; reason: DecisionReason; rule: string };
}

/** A fixture: the policy text to install (none: the org has no policy) and its cases. */
interface Fixture {
  readonly file: string;
  readonly revision: number;
  readonly policy?: string;
  readonly cases: readonly Case[];
}

const DIR = fileURLToPath(new URL("../fixtures/engine/", import.meta.url));

function loadFixtures(): Fixture[] {
  const files = readdirSync(DIR).filter((f) => f.endsWith(".yaml"));
  return files.sort().map((file) => {
    const raw = parse(readFileSync(DIR + file, "utf8")) as Omit<Fixture, "file">;
    if (!Number.isInteger(raw.revision) || !Array.isArray(raw.cases) || raw.cases.length === 0) {
      throw new Error(`fixture ${file} needs a revision and at least one case`);
    }
    return { ...raw, file };
  });
}

function toQuery(c: Case): AuthzQuery {
  return {
    subject: {
      id: c.subject.id,
      tier: c.subject.tier,
      roles: c.subject.roles,
      scopes: c.subject.scopes,
      tags: [],
      attr: {},
    },
    scope: c.scope,
    resource: c.resource,
  };
}

const fixtures = loadFixtures();

// One engine holds every fixture's policy, each under its own org, so the cases also show
// that orgs do not see each other's rules (the no-policy fixture's org is never installed).
const engine = new PolicyEngine();
for (const f of fixtures) {
  if (f.policy !== undefined) engine.install(f.file, f.revision, parsePolicyDocuments(f.policy, f.file));
}

describe("engine fixtures", () => {
  it("finds the fixture files", () => {
    expect(fixtures.map((f) => f.file)).toEqual(
      expect.arrayContaining(["deny.yaml", "no-policy.yaml", "roles.yaml", "scopes.yaml", "tiers.yaml"]),
    );
  });

  describe.each(fixtures)("$file", (fixture) => {
    it("reports the installed revision, and has cases to run", () => {
      expect(engine.revision(fixture.file)).toBe(fixture.revision);
      // A fixture that loads no case must fail, not pass over nothing.
      expect(fixture.cases.length).toBeGreaterThan(0);
    });

    it.each(fixture.cases)("$name", (c) => {
      const decision = engine.decide(fixture.file, toQuery(c));
      expect(decision).toEqual({ ...c.expect, revision: fixture.revision });
    });
  });
});

describe("PolicyEngine revisions", () => {
  const doc = (effect: string) =>
    parsePolicyDocuments(
      `apiVersion: tessera.dev/v1\nkind: Policy\nmetadata:\n  name: p\nspec:\n  rules:\n    - name: r\n      scopes: ["a:b"]\n      effect: ${effect}\n`,
    );
  const query: AuthzQuery = {
    subject: { id: "s", tier: "unverified", roles: [], tags: [], attr: {} },
    scope: "a:b",
  };

  it("serves the newest installed revision", () => {
    const e = new PolicyEngine();
    e.install("org", 1, doc("allow"));
    expect(e.decide("org", query)).toEqual({
      allow: true,
      reason: "ALLOWED_BY_RULE",
      rule: "p/r",
      revision: 1,
    });
    e.install("org", 2, doc("deny"));
    expect(e.revision("org")).toBe(2);
    expect(e.decide("org", query)).toEqual({
      allow: false,
      reason: "DENIED_BY_RULE",
      rule: "p/r",
      revision: 2,
    });
  });

  it("keeps each org's revision separate", () => {
    const e = new PolicyEngine();
    e.install("a", 4, doc("allow"));
    expect(e.decide("b", query)).toEqual({ allow: false, reason: "NO_MATCHING_RULE", rule: "", revision: 0 });
    expect(e.revision("b")).toBe(0);
  });

  it("loads every org's stored documents through a PolicySource", async () => {
    const e = new PolicyEngine();
    const text = `apiVersion: tessera.dev/v1\nkind: Policy\nmetadata:\n  name: s\nspec:\n  rules:\n    - name: r\n      scopes: ["a:*"]\n      effect: allow\n`;
    await e.loadFrom({ loadAll: () => [{ orgId: "x", revision: 9, documents: [text] }] });
    expect(e.decide("x", query)).toEqual({
      allow: true,
      reason: "ALLOWED_BY_RULE",
      rule: "s/r",
      revision: 9,
    });
  });
});
