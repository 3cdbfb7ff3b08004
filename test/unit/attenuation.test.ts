import type { JsonObject } from "@bufbuild/protobuf";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { type GrantSet, grantsBeyond, scopesBeyond } from "../../src/domain/attenuation.js";
import { scopeMatches } from "../../src/domain/scopes.js";
import { jwtPayload } from "../helpers/e2e.js";
import { failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera } from "../helpers/in-memory.js";
import { bearer, ManualClock, newAgent } from "../helpers/lifecycle.js";

const DOMAINS = ["a", "b", "c"];
const VERBS = ["x", "y", "z"];
/** Every concrete scope the patterns below can cover, plus ones no literal pattern names. */
const UNIVERSE = [...DOMAINS, "q"].flatMap((d) => [...VERBS, "w"].map((v) => `${d}:${v}`));
const PATTERN = fc.oneof(
  fc.constant("*"),
  fc.tuple(fc.constantFrom(...DOMAINS, "*"), fc.constantFrom(...VERBS, "*")).map(([d, v]) => `${d}:${v}`),
);
const PATTERNS = fc.uniqueArray(PATTERN, { maxLength: 4 });
const covered = (held: readonly string[], s: string) => held.some((h) => scopeMatches(h, s));

/** Scopes within: every concrete scope a requested pattern covers, some held pattern covers. */
function scopesWithin(held: readonly string[], requested: readonly string[]): boolean {
  return requested.every((r) => UNIVERSE.every((s) => !scopeMatches(r, s) || covered(held, s)));
}

const PORTS = fc.uniqueArray(fc.constantFrom(22, 80, 443, 8080), { minLength: 1 }).map((p) => p.join(","));
const SECTION = fc.record(
  { read: fc.boolean(), write: fc.boolean(), buckets: fc.uniqueArray(fc.constantFrom("a", "b", "c")) },
  { requiredKeys: [] },
);
const API = fc.dictionary(fc.constantFrom("storage", "containers", "secrets"), SECTION, { maxKeys: 3 });
const GRANTS: fc.Arbitrary<GrantSet> = fc.record(
  {
    room: fc.constantFrom("r1", "r2"),
    role: fc.constantFrom("agent", "tool", "user"),
    tunnel_ports: PORTS,
    api: API,
  },
  { requiredKeys: [] },
);

/** The api grant as a set of facts: every object, list and leaf value by its path. */
function facts(v: unknown, path = ""): string[] {
  if (Array.isArray(v)) return [`${path}[]`, ...v.map((x) => `${path}[]=${JSON.stringify(x)}`)];
  if (v !== null && typeof v === "object")
    return [`${path}{}`, ...Object.entries(v).flatMap(([k, x]) => facts(x, `${path}.${k}`))];
  return [`${path}=${JSON.stringify(v)}`];
}
const ports = (p: string | undefined) => new Set(p?.split(",") ?? []);
const subset = <T>(a: Iterable<T>, b: Set<T>) => [...a].every((x) => b.has(x));

/** child ⊆ parent, written independently of src/domain/attenuation.ts. */
function grantsWithin(parent: GrantSet, child: GrantSet): boolean {
  return (
    (child.room === undefined || child.room === parent.room) &&
    (child.role === undefined || child.role === parent.role) &&
    (child.tunnel_ports === undefined ||
      (parent.tunnel_ports !== undefined && subset(ports(child.tunnel_ports), ports(parent.tunnel_ports)))) &&
    (child.api === undefined ||
      (parent.api !== undefined && subset(facts(child.api), new Set(facts(parent.api)))))
  );
}

describe("attenuation, pure", () => {
  it("scopesBeyond empty ⇒ every concrete scope a requested pattern covers is held", () => {
    fc.assert(
      fc.property(PATTERNS, PATTERNS, (held, requested) => {
        if (scopesBeyond(held, requested).length === 0) expect(scopesWithin(held, requested)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("scopesBeyond names exactly the requested patterns that cover some scope not held", () => {
    // The universe has a domain and a verb no pattern names, so a wildcard is never held by accident.
    fc.assert(
      fc.property(PATTERNS, PATTERNS, (held, requested) => {
        const beyond = requested.filter((r) => !scopesWithin(held, [r]));
        expect(scopesBeyond(held, requested)).toEqual(beyond);
      }),
      { numRuns: 2000 },
    );
  });

  it("grantsBeyond is empty iff child ⊆ parent", () => {
    const pairs = fc.oneof(
      fc.tuple(GRANTS, GRANTS),
      // Children drawn from the parent's own values, so the subset case is common too.
      GRANTS.chain((p) =>
        fc.tuple(
          fc.constant(p),
          fc.subarray(Object.keys(p)).map((ks) => pick(p, ks)),
        ),
      ),
    );
    fc.assert(
      fc.property(pairs, ([parent, child]) => {
        expect(grantsBeyond(parent, child).length === 0).toBe(grantsWithin(parent, child));
      }),
      { numRuns: 3000 },
    );
  });
});

function pick(g: GrantSet, keys: string[]): GrantSet {
  return Object.fromEntries(Object.entries(g).filter(([k]) => keys.includes(k))) as GrantSet;
}

const TIER_PB = [Tier.UNVERIFIED, Tier.VERIFIED, Tier.TRUSTED, Tier.PRIVILEGED];
const RANK: Record<string, number> = { unverified: 0, verified: 1, trusted: 2, privileged: 3 };
const toPb = (g: GrantSet) => ({
  ...(g.room ? { room: g.room } : {}),
  ...(g.role ? { role: g.role } : {}),
  ...(g.tunnel_ports ? { tunnelPorts: g.tunnel_ports } : {}),
  ...(g.api && Object.keys(g.api).length > 0 ? { api: g.api as JsonObject } : {}),
});

describe("attenuation, through the real Minter", () => {
  let t: InMemoryTessera;
  const clock = new ManualClock();
  let minterId = "";
  let targetId = "";
  beforeAll(async () => {
    t = await inMemoryTessera(clock.now);
    minterId = (await newAgent(t, "minter", { tier: Tier.PRIVILEGED, roles: ["operator"] })).id;
    targetId = (
      await newAgent(t, "target", { tier: Tier.PRIVILEGED, roles: ["admin", "viewer"], parentId: minterId })
    ).id;
  });
  afterAll(() => t.close());

  interface Side {
    scopes: string[];
    grants: GrantSet;
    tier: Tier;
    ttl: number;
  }
  const side: fc.Arbitrary<Side> = fc.record({
    scopes: PATTERNS,
    grants: GRANTS,
    tier: fc.constantFrom(...TIER_PB),
    ttl: fc.integer({ min: 1, max: 3600 }),
  });

  /** A request mostly within the minter's (so many mints succeed), sometimes anything at all. */
  const requestFor = (m: Side): fc.Arbitrary<Side> =>
    fc.oneof(
      side,
      fc.record({
        scopes: fc.subarray(m.scopes),
        grants: fc.subarray(Object.keys(m.grants)).map((ks) => pick(m.grants, ks)),
        tier: fc.constantFrom(...TIER_PB.filter((x) => x <= m.tier)),
        ttl: fc.integer({ min: 1, max: m.ttl }),
      }),
    );
  const cases = side.chain((m) => fc.tuple(fc.constant(m), requestFor(m), fc.boolean()));

  it("never mints a token holding a scope, grant, tier, role or expiry beyond its minter's", async () => {
    let minted = 0;
    await fc.assert(
      fc.asyncProperty(cases, async ([m, c, keepTier]) => {
        const h = { headers: t.adminHeaders };
        const own = { agentId: minterId, scopes: m.scopes, grants: toPb(m.grants), tier: m.tier };
        const minter = (await t.auth.mintToken({ ...own, ttl: { seconds: BigInt(m.ttl) } }, h)).token;
        const req = {
          agentId: targetId,
          scopes: c.scopes,
          grants: toPb(c.grants),
          ttl: { seconds: BigInt(c.ttl) },
        };
        const res = await t.auth
          .mintToken({ ...req, ...(keepTier ? {} : { tier: c.tier }) }, { headers: bearer(minter) })
          .catch((err: unknown) => failure(Promise.reject(err)));
        if (!("token" in res)) {
          expect(res.reason).toBe("ATTENUATION_VIOLATED");
          return;
        }
        minted++;
        const p = jwtPayload(minter);
        const k = jwtPayload(res.token);
        expect(scopesWithin(p.scopes as string[], k.scopes as string[])).toBe(true);
        expect(grantsWithin((p.grants ?? {}) as GrantSet, (k.grants ?? {}) as GrantSet)).toBe(true);
        expect(RANK[k.tier as string]).toBeLessThanOrEqual(RANK[p.tier as string] ?? -1);
        expect(k.exp as number).toBeLessThanOrEqual(p.exp as number);
        expect(k.roles).toEqual(["viewer"]);
        expect(k.act).toEqual({ sub: minterId, jti: p.jti });
      }),
      { numRuns: 150 },
    );
    expect(minted).toBeGreaterThan(30);
  });
});
