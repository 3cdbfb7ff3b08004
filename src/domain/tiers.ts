/** Trust tiers, lowest first: the index is the order. */
export const TIERS = ["unverified", "verified", "trusted", "privileged"] as const;
export type Tier = (typeof TIERS)[number];

const RANK: ReadonlyMap<string, number> = new Map(TIERS.map((t, i) => [t, i]));

/** True when `name` is a known tier. */
export function isTier(name: unknown): name is Tier {
  return typeof name === "string" && RANK.has(name);
}

/** The position of a tier in the order; higher is more trusted. */
export function tierRank(tier: Tier): number {
  return RANK.get(tier) ?? 0;
}

/** True when `tier` is `minimum` or above it. */
export function tierAtLeast(tier: Tier, minimum: Tier): boolean {
  return tierRank(tier) >= tierRank(minimum);
}
